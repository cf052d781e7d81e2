"""The console in a real browser: one `wakeful serve` per module (a subprocess on loopback,
its own database) and one headless Chromium driven by selenium through Debian's
chromedriver. Nothing downloads a browser: when /usr/bin/chromium or chromedriver is
missing, the setup installs Debian's packages with apt-get (and fails loudly if it can't,
never skipping).

Tenants: `acme` has a submitter, an approver and an admin token; `globex` an admin token.
Agents of acme: `quick` (one step, reads the load), `gated` (writes a report, which needs
an approval), `stalling` (its write call times out: did it happen?), `rememberer`
(keeps L3 episodes), `slowish` (its planner takes a few seconds, so a page opened at once watches
the rest arrive) and `watcher` (continuous, every second; paused until a test resumes it).

WAKEFUL_CONSOLE_SCREENSHOTS=<dir> saves each page's screenshot there (docs/console for the
README); otherwise into the test's temp dir.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from serve_checks import until
from wakeful_servers import free_port, own_database, serve_process, server_env

from server.services import Services, open_services
from stack.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ONE_STEP = {"structured": {"steps": [{"id": "look", "description": "Look at the load"}]}}
LOOK = {"text": "Checking.", "tool_calls": [{"name": "load_average"}]}
WRITE = {
    "text": "Saving what I found.",
    "tool_calls": [{"name": "write_report", "args": {"title": "Health", "body": "all fine"}}],
}
NO_MEMORY = {"episodic": False, "knowledge": False}
SPECS: dict[str, dict[str, Any]] = {
    "quick": {
        "model": {"provider": "scripted",
                  "script": {"planner": [ONE_STEP], "worker": [LOOK, "The load is fine."]}},
        "tools": {"allow": ["load_average"]},
    },
    "gated": {
        "model": {"provider": "scripted",
                  "script": {"planner": [ONE_STEP], "worker": [WRITE, "Report saved."]}},
        "tools": {"allow": ["load_average", "write_report"],
                  "policies": {"write_report": "approval"}},
    },
    "slowish": {
        "model": {"provider": "scripted", "script": {
            "planner": [{**ONE_STEP, "latency_seconds": 4}],
            "worker": [LOOK, "The load is fine, checked slowly."],
        }},
        "tools": {"allow": ["load_average"]},
    },
    "rememberer": {  # keeps L3 episodes, for the memory page
        "model": {"provider": "scripted",
                  "script": {"planner": [ONE_STEP], "worker": [LOOK, "The load is fine."]}},
        "tools": {"allow": ["load_average"]},
        "memory": {"episodic": True, "knowledge": False},
    },
    "watcher": {
        "model": {"provider": "scripted",
                  "script": {"planner": [ONE_STEP], "worker": [LOOK, "Load nominal."]}},
        "tools": {"allow": ["load_average"]},
        "autonomous": {"goal": "Watch the load", "interval_seconds": 1},
    },
}
STALL_SERVER = Path(__file__).parents[1] / "tools" / "mcp_servers" / "stall_server.py"


def stalling_spec(state: Path) -> dict[str, Any]:
    """An agent whose one write call hangs past its timeout: "did it happen?" follows."""
    send = {"text": "Sending.", "tool_calls": [{"name": "s__stall", "args": {"tag": "console"}}]}
    return {
        "model": {"provider": "scripted",
                  "script": {"planner": [ONE_STEP], "worker": [send, "Handled the message."]}},
        "mcp_servers": [{"name": "s", "transport": "stdio", "command": "python",
                         "args": [str(STALL_SERVER)], "env": {"MCP_TEST_STATE": str(state)},
                         "scopes": {"stall": "write"}, "timeout_s": 3}],
        "tools": {"allow": ["s.stall"]},
    }


ROLES = (("acme", "submitter"), ("acme", "approver"), ("acme", "admin"), ("globex", "admin"))
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--window-size=1400,1000")


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when missing (never skip)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if shutil.which("apt-get") is None:
        pytest.fail("Chromium is missing and there is no apt-get to install it with")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "apt-get left no chromium/chromedriver"


@pytest.fixture
def eventually() -> Callable[..., Awaitable[Any]]:
    """eventually(check, timeout=, what=): see `until`."""
    return functools.partial(until, interval=0.05)


@dataclass
class ConsoleServer:
    base_url: str
    services: Services
    tokens: dict[str, str]  # "acme/approver" -> token
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def api(self, who: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=self.base_url, timeout=30,
                                   headers={"Authorization": f"Bearer {self.tokens[who]}"})
        self.clients.append(client)
        return client

    async def submit(self, agent: str, goal: str = "Check the load") -> str:
        reply = await self.api("acme/submitter").post("/tasks", json={"goal": goal,
                                                                       "agent": agent})
        assert reply.status_code == 202, reply.text
        return reply.json()["id"]

    async def task_state(self, task_id: str, *states: str, timeout: float = 120) -> str:
        async def reached() -> str | None:
            task = await self.services.engine.records.get_task(task_id)
            return task.state if task.state in states else None

        return await until(reached, timeout=timeout, what=f"task {task_id} in {states}")


@pytest.fixture(scope="module")
def console_db(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str,
                                                                                      Path]]:
    with own_database(pg_url, "wk_console") as url:
        yield url, tmp_path_factory.mktemp("console-data")


@pytest.fixture(scope="module")
async def console(console_db: tuple[str, Path]) -> AsyncIterator[ConsoleServer]:
    url, data_dir = console_db
    services = await open_services(Settings(WAKEFUL_DATA_DIR=data_dir, DATABASE_URL=url), url=url)
    server: ConsoleServer | None = None
    try:
        tokens = {f"{t}/{r}": await services.auth.create_token(t, r, f"{t}-{r}")
                  for t, r in ROLES}
        for name, spec in {**SPECS, "stalling": stalling_spec(data_dir)}.items():
            await services.agents.apply("acme", {"name": name, "entropy": {"semantic": False},
                                                 "memory": NO_MEMORY, **spec})
        await services.agents.pause("acme", "watcher")  # a test resumes it
        port = free_port()
        log = data_dir / "serve.log"
        with serve_process(server_env(url, data_dir), log, port) as process:
            base_url = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base_url) as probe:

                async def healthy() -> bool:
                    if process.poll() is not None:
                        raise AssertionError(f"serve exited: {log.read_text()[-3000:]}")
                    with contextlib.suppress(httpx.TransportError):
                        return (await probe.get("/healthz")).status_code == 200
                    return False

                await until(healthy, timeout=90, what="wakeful serve answering /healthz")
            server = ConsoleServer(base_url, services, tokens)
            yield server
            for client in server.clients:
                await client.aclose()
        text = log.read_text(errors="replace")
        assert process.returncode == 0, f"wakeful serve stopped badly:\n{text[-3000:]}"
        errors = [line for line in text.splitlines() if line.startswith(("ERROR", "CRITICAL"))]
        assert not errors, f"wakeful serve logged errors:\n{text[-3000:]}"
    finally:
        await services.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    ensure_chromium()
    profile = tempfile.mkdtemp(prefix="wakeful-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(300)  # the memory page may load the embedder first
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Page:
    """The browser on the console, signed in as one token at a time."""

    driver: webdriver.Chrome
    base_url: str
    shots: Path

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    def sign_in(self, token: str) -> None:
        self.driver.delete_all_cookies()
        self.open("/console/login")
        self.driver.find_element(By.ID, "token").send_keys(token)
        self.driver.find_element(By.ID, "sign-in").click()
        self.wait_for(lambda d: d.find_elements(By.ID, "who"), "signed in")

    def wait_for(self, condition: Callable[[webdriver.Chrome], Any], what: str,
                 timeout: float = 60) -> Any:
        return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(
            condition, message=what)

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def screenshot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.driver.get_screenshot_as_file(str(path))
        return path


@pytest.fixture
def page(browser: webdriver.Chrome, console: ConsoleServer, tmp_path: Path) -> Page:
    shots = Path(os.environ.get("WAKEFUL_CONSOLE_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return Page(browser, console.base_url, shots)
