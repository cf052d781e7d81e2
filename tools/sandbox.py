"""Run untrusted code in a sandbox: bubblewrap namespaces plus rlimits set by prlimit.

bubblewrap (Debian's `bwrap`) gives the process new user, pid, network, ipc, uts and cgroup
namespaces: no network interface but loopback, no view of other processes, and a
filesystem made of a read-only /usr (with /bin, /lib, /lib64, /sbin links), a private /proc,
a minimal /dev, an empty /tmp and the per-task scratch directory, bound read-write at
/scratch. Nothing else of the host is visible: not the data dir, not the project, not /etc.
The environment is cleared. `--die-with-parent` kills the sandbox with its bwrap, and the pid
namespace takes every process inside with it.

Limits are rlimits, set by util-linux `prlimit` which then execs bwrap (so they hold for
every process inside): CPU seconds, address space, open files, file size and processes.
`prlimit` rather than `resource.setrlimit` in a preexec_fn: a preexec_fn runs Python in the
forked child of a threaded worker, which can deadlock. The process limit counts per user
and root is exempt from it, so a root worker runs the code as `nobody` (bwrap itself then
runs privileged, without a user namespace, and `setpriv` drops to nobody inside: every
capability goes with the uid, and bwrap sets no_new_privs). The wall-clock limit is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from stack.errors import ConfigError

NOBODY = 65534
SCRATCH = "/scratch"
_SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# bwrap itself and the pid namespace's init count against the process limit too.
_BWRAP_PROCESSES = 3


class SandboxLimits(BaseModel):
    """What one sandboxed run may use. The agent spec's `code:` section sets these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wall_seconds: float = Field(default=20.0, gt=0, le=600, description="killed after this")
    cpu_seconds: int = Field(default=10, ge=1, le=600)
    memory_mb: int = Field(default=512, ge=32, le=16_384, description="address space per process")
    max_processes: int = Field(default=32, ge=1, le=1024)
    max_file_mb: int = Field(default=64, ge=1, le=4096, description="largest file it may write")
    max_open_files: int = Field(default=256, ge=16, le=4096)
    max_output_chars: int = Field(default=16_000, ge=256, le=1_000_000)


@dataclass(frozen=True)
class SandboxResult:
    """How a sandboxed run ended and what it printed (each stream cut at the output limit)."""

    exit_code: int | None  # None: killed by us at the wall-clock limit
    signal: int | None  # the signal that ended it (a limit: SIGKILL, SIGXCPU), if one did
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def bwrap_path() -> str:
    """The bwrap executable; a ConfigError saying how to install it when missing."""
    for name in ("bwrap", "prlimit"):
        if shutil.which(name) is None:
            package = "bubblewrap" if name == "bwrap" else "util-linux"
            raise ConfigError(
                f"the code sandbox needs {name!r}, which is not installed; "
                f"install it with `apt-get install -y {package}`"
            )
    return str(shutil.which("bwrap"))


class Sandbox:
    """Runs commands inside bubblewrap with `limits`, one scratch directory per task."""

    def __init__(self, scratch_root: Path, limits: SandboxLimits | None = None) -> None:
        self.scratch_root = scratch_root
        self.limits = limits or SandboxLimits()

    def scratch_for(self, task_id: str) -> Path:
        """The task's scratch directory (made on first use, writable by the sandbox user)."""
        if not task_id or Path(task_id).name != task_id or task_id in (".", ".."):
            raise ValueError(f"not a usable task id for a scratch directory: {task_id!r}")
        path = self.scratch_root / task_id
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            os.chown(path, NOBODY, NOBODY)
        return path

    async def run(self, argv: list[str], *, stdin: str, task_id: str) -> SandboxResult:
        """Run `argv` (paths as seen inside) with `stdin`, in the task's scratch dir."""
        scratch = self.scratch_for(task_id)
        inside = [*_as_nobody(), *argv]
        command = [*self._prlimit(), "--", bwrap_path(), *_bwrap_args(scratch), "--", *inside]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"PATH": _SANDBOX_PATH},
            start_new_session=True,
        )
        try:
            return await self._collect(process, stdin)
        finally:
            if process.returncode is None:  # cancelled or failed: never leave it running
                _kill(process)
                await process.wait()

    async def _collect(self, process: asyncio.subprocess.Process, stdin: str) -> SandboxResult:
        limit = self.limits.max_output_chars
        talk = asyncio.ensure_future(process.communicate(stdin.encode()))
        try:
            out, err = await asyncio.wait_for(asyncio.shield(talk), self.limits.wall_seconds)
            timed_out = False
        except TimeoutError:
            _kill(process)
            out, err = await talk
            timed_out = True
        code = process.returncode
        return SandboxResult(
            exit_code=None if timed_out else code,
            signal=None if timed_out else _signal_of(code),
            stdout=_cut(out, limit),
            stderr=_cut(err, limit),
            timed_out=timed_out,
        )

    def _prlimit(self) -> list[str]:
        limits = self.limits
        memory = limits.memory_mb * 1024 * 1024
        processes = limits.max_processes + _BWRAP_PROCESSES + _processes_of(_sandbox_uid())
        return [
            str(shutil.which("prlimit") or "prlimit"),
            f"--cpu={limits.cpu_seconds}",
            f"--as={memory}",
            f"--nproc={processes}",
            f"--fsize={limits.max_file_mb * 1024 * 1024}",
            f"--nofile={limits.max_open_files}",
            "--core=0",
        ]


def _bwrap_args(scratch: Path) -> list[str]:
    args = [
        *_namespaces(),
        "--die-with-parent",
        "--new-session",  # no TIOCSTI into the worker's terminal
        "--clearenv",
        "--setenv",
        "PATH",
        _SANDBOX_PATH,
        "--setenv",
        "HOME",
        SCRATCH,
        "--setenv",
        "TMPDIR",
        "/tmp",
        "--setenv",
        "LANG",
        "C.UTF-8",
        "--ro-bind",
        "/usr",
        "/usr",
    ]
    for link in ("bin", "lib", "lib64", "sbin"):
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), f"/{link}"]
        elif target.is_dir():
            args += ["--ro-bind", str(target), f"/{link}"]
    args += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--tmpfs",
        "/tmp",
        "--bind",
        str(scratch),
        SCRATCH,
        "--chdir",
        SCRATCH,
    ]
    return args


def _sandbox_uid() -> int:
    return NOBODY if os.geteuid() == 0 else os.geteuid()


def _namespaces() -> list[str]:
    """New pid, net, ipc, uts and cgroup namespaces: no network at all. Unprivileged, bwrap
    needs a user namespace too; as root it must not have one (`nobody` is not mapped in it)."""
    if os.geteuid() == 0:
        return [
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
    return ["--unshare-all"]


def _as_nobody() -> list[str]:
    """As root, the code runs as nobody (setuid drops every capability): root is exempt
    from the process limit, and must not own the sandbox."""
    if os.geteuid() != 0:
        return []
    return ["/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"]


def _processes_of(uid: int) -> int:
    """How many processes `uid` runs now: RLIMIT_NPROC counts them all, not just ours."""
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                continue  # it ended while we looked
    return count


def _kill(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # prlimit/bwrap; --die-with-parent does the rest


def _signal_of(code: int | None) -> int | None:
    # bwrap reports a child killed by signal N as exit status 128 + N, as a shell does.
    if code is not None and code < 0:
        return -code
    return code - 128 if code is not None and 128 < code < 160 else None


def _cut(data: bytes, limit: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[output cut at {limit} characters]"
