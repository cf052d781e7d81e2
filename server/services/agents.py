"""Applied agents: specs stored per tenant, runnable by name; continuous ones (with an
`autonomous:` section) are scheduled by the runtime until paused or deleted.

A spec may carry an `alerts:` list (see server/runtime/alerts.py) next to the agent spec
fields; it is taken out before the spec is validated, and replaces the agent's rules.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import TypeAdapter, ValidationError

from graphs.runner import self_contained
from graphs.spec import parse_agent_spec
from server.runtime.alerts import DEFAULT_RULES, AlertEvaluator, AlertRuleSpec
from server.runtime.status import AgentStatus, agent_status
from stack.errors import ConfigError, Conflict, NotFound
from stack.lifecycle import TaskLifecycle
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")
_RULES = TypeAdapter(list[AlertRuleSpec])


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


@dataclass(frozen=True)
class AgentRow:
    id: str
    tenant: str
    name: str
    spec: dict[str, Any]
    continuous: bool
    interval_seconds: float | None
    paused: bool
    created_at: datetime
    updated_at: datetime
    current_task_id: str | None = None  # the running iteration
    next_run_at: datetime | None = None  # when the next iteration may start

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AgentRow:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in fields})


class AgentService:
    def __init__(
        self, pool: AsyncConnectionPool, alerts: AlertEvaluator, control: TaskLifecycle
    ) -> None:
        self.pool = pool
        self.alerts = alerts
        self.control = control

    async def apply(
        self, tenant: str, spec: dict[str, Any], *, spec_dir: Path | None = None
    ) -> AgentRow:
        """Create or update the agent named in `spec` (ConfigError when it is invalid).
        `spec_dir` resolves a `model.script_file` (CLI only: the API takes inline scripts)."""
        if not isinstance(spec, dict):
            raise ConfigError("an agent spec is a mapping (a YAML or JSON object)")
        data = dict(spec)
        rules = _rules(data.pop("alerts", None))
        parsed = parse_agent_spec(data, source=f"agent {data.get('name', '(unnamed)')}")
        if parsed.model.script_file is not None and spec_dir is None:
            raise ConfigError("model.script_file is not accepted here; inline the script as "
                              "model.script")
        stored = self_contained(parsed, spec_dir)
        params = {
            "id": str(uuid.uuid4()), "tenant": tenant, "name": parsed.name, "spec": Jsonb(stored),
            "continuous": parsed.autonomous is not None,
            "interval_seconds": parsed.autonomous.interval_seconds if parsed.autonomous else None,
        }
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(_q("ensure_tenant"), {"tenant": tenant})
            row = await (await conn.execute(_q("upsert_agent"), params)).fetchone()
            assert row is not None
            await self.alerts.set_rules(conn, row["id"], rules)
            await conn.execute(_q("notify_agent"), {"id": row["id"]})
        return AgentRow.from_row(row)

    async def list(self, tenant: str) -> list[AgentRow]:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_q("list_agents"), {"tenant": tenant})).fetchall()
        return [AgentRow.from_row(r) for r in rows]

    async def get(self, tenant: str, name: str) -> AgentRow:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_q("get_agent"), {"tenant": tenant, "name": name})
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no agent named {name!r}")
        return AgentRow.from_row(row)

    async def status(self, tenant: str, name: str) -> AgentStatus:
        status = await agent_status(self.pool, tenant, name)
        if status is None:
            raise NotFound(f"no agent named {name!r}")
        return status

    async def pause(self, tenant: str, name: str) -> AgentRow:
        """Stop scheduling the agent (a running iteration finishes)."""
        return await self._set_paused(tenant, name, True)

    async def resume(self, tenant: str, name: str) -> AgentRow:
        """Schedule the agent again: an iteration missed while paused runs at once."""
        return await self._set_paused(tenant, name, False)

    async def delete(self, tenant: str, name: str) -> None:
        """Forget the agent (its tasks stay); its running iteration is canceled."""
        agent = await self.pause(tenant, name)
        if agent.current_task_id:
            with contextlib.suppress(Conflict):  # it ended meanwhile
                await self.control.cancel(agent.current_task_id, by=f"agent {name} deleted")
        async with self.pool.connection() as conn:
            await conn.execute(_q("delete_agent"), {"id": agent.id})

    async def _set_paused(self, tenant: str, name: str, paused: bool) -> AgentRow:
        params = {"tenant": tenant, "name": name, "paused": paused}
        async with self.pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(_q("set_paused"), params)).fetchone()
            if row is None:
                raise NotFound(f"no agent named {name!r}")
            await conn.execute(_q("notify_agent"), {"id": row["id"]})
        return AgentRow.from_row(row)


def _rules(raw: Any) -> list[AlertRuleSpec]:
    if raw is None:
        return list(DEFAULT_RULES)
    try:
        return _RULES.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"alerts.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid alerts: {problems}") from None
