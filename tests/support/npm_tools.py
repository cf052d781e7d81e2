"""Third-party MCP clients from npm, for tests of /mcp: the MCP Inspector's CLI and the MCP
conformance suite, with a Node 22 of their own (both need Node >= 22; the machine's may be
older). Installed at pinned versions into a cache folder outside the repository
(WAKEFUL_NPM_DIR, default ~/.cache/wakeful-npm) on first use; later runs find them there
and need no network. Importable: tests/support is on sys.path.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

INSPECTOR = "@modelcontextprotocol/inspector"
CONFORMANCE = "@modelcontextprotocol/conformance"
VERSIONS = {INSPECTOR: "2.12.0", CONFORMANCE: "0.1.16"}
NODE_VERSION = "22.23.3"
INSTALL_TIMEOUT_S = 600


class NpmUnavailable(RuntimeError):
    """npm is not installed: the third-party client tests cannot run."""


def npm_dir() -> Path:
    return Path(os.environ.get("WAKEFUL_NPM_DIR") or Path.home() / ".cache" / "wakeful-npm")


def node_package() -> str:
    """The npm package holding a Node binary for this machine (what `node@22` installs)."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
    system = platform.system().lower()
    return f"node-{system}-{arch.get(platform.machine().lower(), platform.machine())}"


@dataclass(frozen=True)
class NpmTools:
    root: Path

    @property
    def node(self) -> Path:
        return self.root / "node_modules" / node_package() / "bin" / "node"

    @property
    def inspector(self) -> list[str]:
        """The Inspector's command line client (`inspector --cli`)."""
        launcher = self.root / "node_modules" / INSPECTOR / "clients/launcher/build/index.js"
        return [str(self.node), str(launcher), "--cli"]

    def conformance(self, *node_options: str) -> list[str]:
        script = self.root / "node_modules" / CONFORMANCE / "dist/index.js"
        return [str(self.node), *node_options, str(script)]


def _installed(root: Path, package: str, version: str) -> bool:
    manifest = root / "node_modules" / package / "package.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(manifest.read_text())["version"] == version
    return False


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """One installer at a time (several test sessions may share the folder)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_npm_tools() -> NpmTools:
    """The pinned tools, installed (once) into npm_dir()."""
    root = npm_dir()
    wanted = {**VERSIONS, node_package(): NODE_VERSION}
    tools = NpmTools(root)
    if all(_installed(root, name, version) for name, version in wanted.items()):
        return tools
    npm = shutil.which("npm")
    if npm is None:
        raise NpmUnavailable("npm is not on PATH (Node.js with npm is needed for these tests)")
    with _locked(root):
        if not all(_installed(root, name, version) for name, version in wanted.items()):
            manifest = {"name": "wakeful-npm-tools", "private": True}
            (root / "package.json").write_text(json.dumps(manifest))
            specs = [f"{name}@{version}" for name, version in wanted.items()]
            # --ignore-scripts: the Node binary comes as its plain platform package, and
            # the Inspector's postinstall only matters in a source checkout.
            done = subprocess.run(
                [
                    npm,
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--prefer-offline",
                    "--ignore-scripts",
                    "--loglevel=error",
                    *specs,
                ],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"npm install {' '.join(specs)} failed:\n{done.stderr}")
    return tools
