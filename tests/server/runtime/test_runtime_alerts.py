"""Alert rules fire on failing iterations and silence; webhooks are retried with exponential
backoff and every attempt is recorded."""

from __future__ import annotations

import asyncio
import time

import pytest

from stack.errors import ConfigError


class Webhook:
    """An HTTP endpoint on loopback that fails the first `failures` POSTs with a 500."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[float, bytes]] = []

    async def __aenter__(self) -> Webhook:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        self.received.append((time.monotonic(), await reader.readexactly(length)))
        status = b"500 Internal Server Error" if len(self.received) <= self.failures else b"200 OK"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


async def test_failing_iterations_fire_a_webhook_retried_with_backoff(
    rt, start_worker, spec, eventually
):
    async with Webhook(failures=2) as hook:
        agent = spec("flaky", worker=[{"text": "Again.", "tool_calls": [{"name": "load_average"}]}],
                     autonomous={"goal": "Watch", "interval_seconds": 0.2},
                     budgets={"max_tool_calls": 0})
        agent["alerts"] = [{"when": "consecutive_failures", "threshold": 2, "webhook": hook.url},
                           {"when": "budget_exhausted"}]
        await rt.agents.apply("acme", agent)
        start_worker()

        async def delivered():
            alerts = await rt.alerts.list("acme", "flaky")
            streak = [a for a in alerts if a.kind == "consecutive_failures"]
            return streak if streak and streak[0].deliveries[0]["state"] == "delivered" else None

        [alert] = await eventually(delivered, timeout=60, message="webhook delivered")
        await rt.agents.pause("acme", "flaky")
    assert alert.deliveries[0]["attempts"] == 3
    assert alert.deliveries[0]["last_status"] == 200
    assert "2 iterations failed in a row" in alert.message
    times = [t for t, _ in hook.received]
    assert len(times) == 3
    assert times[1] - times[0] >= 1.0 and times[2] - times[1] >= 2.0  # 1 s, then 2 s
    assert b'"kind":"consecutive_failures"' in hook.received[-1][1].replace(b" ", b"")
    status = await rt.agents.status("acme", "flaky")
    assert status.consecutive_failures >= 2 and status.open_alerts >= 1
    budget = [a for a in await rt.alerts.list("acme", "flaky") if a.kind == "budget_exhausted"]
    assert budget and budget[0].data["stop_reason"] == "max_tool_calls"
    assert budget[0].deliveries == []  # a rule without a webhook: shown, not sent


async def test_silence_fires_once_per_silent_period(rt, spec):
    agent = spec("quiet")
    agent["alerts"] = [{"when": "no_success", "threshold": 0.2}]
    await rt.agents.apply("acme", agent)
    await asyncio.sleep(0.3)  # the rule's threshold passes with no successful run
    await rt.evaluator.sweep()
    await rt.evaluator.sweep()
    alerts = await rt.alerts.list("acme")
    assert [(a.agent, a.kind) for a in alerts] == [("quiet", "no_success")]
    assert await rt.alerts.list("other") == []


@pytest.mark.parametrize(
    ("rules", "match"),
    [([{"when": "no_success"}], "threshold"), ([{"when": "sometimes"}], "when"),
     ([{"when": "stuck", "webhook": "ftp://x"}], "webhook"), ("loud", "alerts"),
     # a threshold past the timestamp range failed every sweep, for every agent
     ([{"when": "no_success", "threshold": 1e300}], "threshold")],
)
async def test_bad_alert_rules_are_config_errors(rt, spec, rules, match):
    agent = spec("noisy")
    agent["alerts"] = rules
    with pytest.raises(ConfigError, match=match):
        await rt.agents.apply("acme", agent)
