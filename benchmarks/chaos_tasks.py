"""The chaos benchmark's work (benchmarks/chaos.py): each task's own scripted agent, whose
worker calls the write-scoped MCP tool `fx.record_effect` for steps 1 and 2, and the
submitter that applies the agents and submits the tasks over REST while serve is being
killed.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from chaos_cluster import REPO, Queries

EFFECTS_SERVER = REPO / "tests" / "support" / "effects_mcp_server.py"
TOOL = "fx__record_effect"  # the model's name of fx.record_effect
_OPEN = "SELECT count(*) AS n FROM tasks WHERE state IN ('submitted', 'working')"


def agent_spec(ref: str, rng: random.Random, effects_log: Path) -> dict[str, Any]:
    def latency() -> float:
        return round(rng.uniform(0.5, 2.0), 2)

    def effect(step: int) -> dict[str, Any]:
        return {"text": f"Recording effect {step}.", "latency_seconds": latency(),
                "tool_calls": [{"name": TOOL, "args": {"ref": ref, "step": step}}]}

    plan = {"steps": [{"id": "fx", "description": "Record effects 1 and 2"}]}
    return {
        "name": f"chaos-{ref}",
        "model": {"provider": "scripted", "script": {
            "planner": [{"structured": plan, "latency_seconds": latency()}],
            "worker": [effect(1), effect(2),
                       {"text": "Both effects recorded.", "latency_seconds": latency()}],
        }},
        "mcp_servers": [{
            "name": "fx", "transport": "stdio", "command": sys.executable,
            "args": [str(EFFECTS_SERVER)],
            "env": {"EFFECTS_LOG": str(effects_log), "EFFECTS_SLEEP": "0.8,0.4"},
            "scopes": {"record_effect": "write"}, "timeout_s": 60, "connect_timeout_s": 60,
        }],
        "tools": {"allow": ["fx.record_effect"], "policies": {"fx.record_effect": "allow"}},
        "entropy": {"semantic": False},
        "memory": {"episodic": False, "knowledge": False},
    }



@dataclass
class Demand:
    """How many tasks the run wants: at least `minimum`; while `kills_over` is not set, one
    more whenever fewer than `open_target` are open (so every kill lands on work)."""

    minimum: int
    open_target: int
    kills_over: threading.Event


class Submitter(threading.Thread):
    """Applies each task's agent (PUT /agents/chaos-<ref>) and submits its task (POST
    /tasks) as `demand` says, riding out serve's deaths. A POST whose reply is lost is
    looked up in the database (one agent, one task) before it is sent again."""

    def __init__(
        self,
        db_url: str,
        base_url: str,
        demand: Demand,
        *,
        token: Callable[[], str],
        spec_for: Callable[[str], dict[str, Any]],
    ) -> None:
        super().__init__(name="chaos-submitter", daemon=True)
        self.base_url = base_url
        self.demand = demand
        self.token = token
        self.spec_for = spec_for
        self.submitted: dict[str, str | None] = {}  # ref -> task id
        self.error: BaseException | None = None
        self.q = Queries(db_url)

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                while self.wanted():
                    self.submit(client, f"{len(self.submitted):04d}")
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def wanted(self) -> bool:
        """Wait until another task is wanted; False: none is any more."""
        while True:
            if self.demand.kills_over.is_set():
                return len(self.submitted) < self.demand.minimum
            if self.q.rows(_OPEN)[0]["n"] < self.demand.open_target:
                return True
            time.sleep(0.3)

    def submit(self, client: httpx.Client, ref: str) -> None:
        spec = self.spec_for(ref)
        self.call(client, "PUT", f"/agents/{spec['name']}", spec)
        self.submitted[ref] = None
        while True:
            found = self.q.rows("SELECT id FROM tasks WHERE agent = %s", (spec["name"],))
            if found:
                self.submitted[ref] = found[0]["id"]
                return
            reply = self.call(client, "POST", "/tasks",
                              {"goal": f"Record the effects of job {ref}", "agent": spec["name"]},
                              headers={"Idempotency-Key": f"chaos-{ref}"}, once=True)
            if reply is not None:
                self.submitted[ref] = reply["id"]
                return

    def call(self, client: httpx.Client, method: str, path: str, body: dict[str, Any], *,
             headers: dict[str, str] | None = None, once: bool = False) -> Any:
        """The reply's JSON; with `once`, None when the request may have been sent but no
        reply came (the caller checks before sending it again)."""
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            auth = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            try:
                reply = client.request(method, path, json=body, headers=auth)
            except httpx.ConnectError:
                time.sleep(0.3)  # serve is down: nothing was sent
                continue
            except httpx.TransportError:
                if once:
                    return None
                time.sleep(0.3)
                continue
            if reply.status_code >= 500 or reply.status_code == 401:
                # 401: serve restarted before writing the token we read; 5xx: an outage
                time.sleep(0.5)
                if once and reply.status_code >= 500:
                    return None
                continue
            reply.raise_for_status()
            return reply.json()
        raise TimeoutError(f"{method} {path}: no answer from serve within 600 s")
