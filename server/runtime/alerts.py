"""Alert rules of an agent, evaluated when one of its tasks ends and periodically; fired
alerts are recorded and POSTed to the rule's webhook by a queue job that retries with
exponential backoff, every attempt recorded.

Rules (`alerts:` in an applied agent spec; without it, DEFAULT_RULES):
- consecutive_failures (threshold: N) — N iterations in a row failed;
- no_success (threshold: seconds) — no iteration completed for that long;
- budget_exhausted — a task of the agent ran out of a budget, or its daily token budget is
  spent;
- stuck (threshold: seconds, default 900) — a task ended `stuck` (its loop detector gave
  up), or the running iteration recorded nothing for that long.

A failure streak fires once when it reaches the threshold or passes it (a count that jumps
over it, or an end hook that never ran, is caught by the periodic sweep); the next streak,
after a success, fires again. Whatever the rules, an agent whose stored spec no longer
parses fires `spec_invalid` (to the webhook of its first rule that has one).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import procrastinate
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import AnyHttpUrl, BaseModel, Field, model_validator

from server.runtime import jobs
from stack.sql import load_queries
from stack.task_records import TaskRow

log = logging.getLogger(__name__)

_QUERIES = Path(__file__).with_suffix(".sql")

MAX_THRESHOLD = 10 * 366 * 24 * 3600
AlertKind = Literal["consecutive_failures", "no_success", "budget_exhausted", "stuck"]
BUDGET_STOPS = frozenset(
    {"max_iterations", "max_runtime_seconds", "max_tool_calls", "max_tokens",
     "iteration_timeout_seconds"}
)
STUCK_DEFAULT_SECONDS = 900.0


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class AlertRuleSpec(BaseModel):
    """One entry of an agent spec's `alerts:` list."""

    model_config = {"extra": "forbid"}

    when: AlertKind
    # Ten years at most: a threshold in seconds is subtracted from now() in SQL, and one
    # past the timestamp range would fail every sweep, for every agent.
    threshold: float | None = Field(
        default=None, gt=0, le=MAX_THRESHOLD, description="count or seconds"
    )
    webhook: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _threshold(self) -> AlertRuleSpec:
        if self.when == "consecutive_failures" and self.threshold is None:
            self.threshold = 3
        if self.when == "stuck" and self.threshold is None:
            self.threshold = STUCK_DEFAULT_SECONDS
        if self.when == "no_success" and self.threshold is None:
            raise ValueError("a no_success rule needs `threshold` (seconds without a success)")
        return self


DEFAULT_RULES = (
    AlertRuleSpec(when="consecutive_failures", threshold=3),
    AlertRuleSpec(when="budget_exhausted"),
    AlertRuleSpec(when="stuck"),
)


class AlertEvaluator:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        queue: procrastinate.App,
        *,
        backoff_seconds: float = 2.0,
        max_attempts: int = 6,
        timeout_seconds: float = 10.0,
    ) -> None:
        self.pool = pool
        self.queue = queue
        self.backoff_seconds = backoff_seconds
        self.max_attempts = max_attempts
        self.timeout_seconds = timeout_seconds

    async def set_rules(self, conn: Any, agent_id: str, rules: list[AlertRuleSpec]) -> None:
        """Replace an agent's rules, inside the caller's transaction."""
        await conn.execute(_q("replace_rules"), {"agent_id": agent_id})
        for rule in rules:
            await conn.execute(_q("insert_rule"), {
                "agent_id": agent_id, "kind": rule.when, "threshold": rule.threshold,
                "webhook_url": str(rule.webhook) if rule.webhook else None,
            })

    async def task_ended(self, task: TaskRow) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("agent_of_task"), {
                "iteration_of": task.iteration_of, "tenant": task.tenant, "agent": task.agent,
            })
            agent = await cur.fetchone()
            if agent is None:
                return
            cur = await conn.execute(_q("rules_of_agent"), {"agent_id": agent["id"]})
            rules = await cur.fetchall()
        if task.state == "completed":
            async with self.pool.connection() as conn:
                await conn.execute(_q("resolve_alerts"), {"agent_id": agent["id"]})
        for rule in rules:
            fired = _fires_on_end(rule, agent, task)
            if fired is not None:
                message, key = fired
                await self.fire(agent, rule["id"], rule["kind"], message,
                                {"task_id": task.id, "state": task.state,
                                 "stop_reason": task.stop_reason},
                                dedupe_key=key, webhook=rule["webhook_url"])

    async def sweep(self) -> None:
        """Conditions that show without a task ending (or whose end hook never ran): silence,
        failure streaks and hung iterations."""
        for row in await self._rows("silent_agents"):
            since = row["silent_since"]
            await self.fire(
                row, row["rule_id"], "no_success",
                f"agent {row['name']}: no successful run since {since:%Y-%m-%d %H:%M:%S %Z}",
                {"since": since.isoformat()}, dedupe_key=f"since:{since.isoformat()}",
                webhook=row["webhook_url"],
            )
        for row in await self._rows("failing_agents"):
            message, key = _streak(row)
            await self.fire(row, row["rule_id"], "consecutive_failures", message,
                            {"failures": row["consecutive_failures"]}, dedupe_key=key,
                            webhook=row["webhook_url"])
        for row in await self._rows("hung_iterations"):
            await self.fire(
                row, row["rule_id"], "stuck",
                f"agent {row['name']}: iteration {row['current_task_id']} recorded nothing "
                f"since {row['last_event_at']:%H:%M:%S}",
                {"task_id": row["current_task_id"]},
                dedupe_key=f"hung:{row['current_task_id']}", webhook=row["webhook_url"],
            )

    async def spec_invalid(self, agent: dict[str, Any], problem: str) -> None:
        """The agent's stored spec does not parse (it was paused): say which field."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("rules_of_agent"), {"agent_id": agent["id"]})
            webhooks = [r["webhook_url"] for r in await cur.fetchall() if r["webhook_url"]]
        await self.fire(
            agent, None, "spec_invalid",
            f"agent {agent['name']}: paused, its spec does not parse ({problem}); fix it and "
            f"apply it again, then `wakeful agent resume {agent['name']}`",
            {"problem": problem}, dedupe_key=f"spec:{agent['updated_at'].isoformat()}",
            webhook=webhooks[0] if webhooks else None,
        )

    async def _rows(self, query: str) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn:
            return await (await conn.execute(_q(query))).fetchall()

    async def daily_budget_spent(self, agent: dict[str, Any], day: str, spent: int) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("rules_of_agent"), {"agent_id": agent["id"]})
            rules = [r for r in await cur.fetchall() if r["kind"] == "budget_exhausted"]
        for rule in rules:
            await self.fire(
                agent, rule["id"], "budget_exhausted",
                f"agent {agent['name']}: daily token budget spent ({spent:,} tokens on {day}); "
                "next iteration tomorrow (UTC)",
                {"day": day, "tokens": spent}, dedupe_key=f"daily:{day}",
                webhook=rule["webhook_url"],
            )

    async def fire(
        self,
        agent: dict[str, Any],
        rule_id: int | None,
        kind: str,
        message: str,
        data: dict[str, Any],
        *,
        dedupe_key: str,
        webhook: str | None,
    ) -> dict[str, Any] | None:
        """Record the alert (once per key) and queue its webhook; None when already fired."""
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(_q("fire_alert"), {
                "tenant": agent["tenant"], "agent_id": agent["id"], "agent": agent["name"],
                "rule_id": rule_id, "kind": kind, "message": message, "data": Jsonb(data),
                "dedupe_key": dedupe_key,
            })
            alert = await cur.fetchone()
            if alert is None:
                return None
            log.warning("alert: %s", message)
            if webhook:
                cur = await conn.execute(
                    _q("add_delivery"), {"alert_id": alert["id"], "url": webhook}
                )
                delivery = await cur.fetchone()
                assert delivery is not None
                deferrer = self.queue.configure_task(
                    jobs.DELIVER_ALERT, queue=jobs.MAINTENANCE_QUEUE, connection=conn
                )
                await deferrer.defer_async(
                    delivery_id=delivery["id"], backoff_seconds=self.backoff_seconds,
                    max_attempts=self.max_attempts,
                )
        return alert

    async def deliver(self, delivery_id: int, *, final: bool) -> str:
        """POST the alert; raises on failure so the queue retries (unless `final`)."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("delivery"), {"id": delivery_id})).fetchone()
        if row is None or row["state"] != "pending":
            return "gone" if row is None else row["state"]
        status, error = await self._post(row)
        state = "delivered" if error is None else ("failed" if final else "pending")
        async with self.pool.connection() as conn:
            await conn.execute(_q("record_attempt"), {
                "id": delivery_id, "state": state, "status": status, "error": error,
            })
        if error is not None and not final:
            raise WebhookFailed(f"webhook {row['url']}: {error}")
        return state

    async def _post(self, row: dict[str, Any]) -> tuple[int | None, str | None]:
        payload = {
            "alert": {
                "id": row["alert_id"], "tenant": row["tenant"], "agent": row["agent"],
                "kind": row["kind"], "message": row["message"], "data": row["data"],
                "fired_at": _iso(row["fired_at"]),
            }
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds, trust_env=False) as client:
                response = await client.post(row["url"], json=payload)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        if response.is_success:
            return response.status_code, None
        return response.status_code, f"HTTP {response.status_code}"


class WebhookFailed(Exception):
    """A webhook delivery attempt failed (the job is retried with backoff)."""


def _fires_on_end(
    rule: dict[str, Any], agent: dict[str, Any], task: TaskRow
) -> tuple[str, str] | None:
    """(message, dedupe key) when `rule` fires because `task` ended, else None."""
    kind, name = rule["kind"], agent["name"]
    if (kind == "consecutive_failures" and task.state == "failed" and task.iteration_of
            and agent["consecutive_failures"] >= int(rule["threshold"])):
        return _streak(agent)
    if kind == "budget_exhausted" and task.stop_reason in BUDGET_STOPS:
        return f"agent {name}: task {task.id} ran out of {task.stop_reason}", f"task:{task.id}"
    if kind == "stuck" and task.stop_reason == "stuck":
        return f"agent {name}: task {task.id} was stuck in a loop and stopped", f"task:{task.id}"
    return None


def _streak(agent: dict[str, Any]) -> tuple[str, str]:
    """(message, dedupe key) of an agent's failure streak: one key per streak, the streak
    being everything since its last success (or since it was created)."""
    began = agent["last_succeeded_at"] or agent["created_at"]
    return (f"agent {agent['name']}: {agent['consecutive_failures']} iterations failed in a "
            f"row (last: {agent['last_outcome']})", f"streak:{began.isoformat()}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
