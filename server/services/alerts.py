"""Alerts as the console and the API show them: what fired, for which agent, and how its
webhook deliveries went. Rules are set with the agent spec (AgentService.apply)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

from stack.errors import ConfigError
from stack.sql import load_queries

_QUERIES = Path(__file__).parents[1] / "runtime" / "alerts.sql"
MAX_ALERTS = 1000


@dataclass(frozen=True)
class AlertRow:
    id: int
    agent: str
    kind: str
    message: str
    data: dict[str, Any]
    fired_at: datetime
    resolved_at: datetime | None
    deliveries: list[dict[str, Any]]  # url, state, attempts, last_status, last_error, delivered_at

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AlertRow:
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in row.items() if k in fields})


class AlertService:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def list(
        self, tenant: str, agent: str | None = None, *, limit: int = 100
    ) -> list[AlertRow]:
        """The tenant's alerts, newest first (optionally one agent's)."""
        if not 1 <= limit <= MAX_ALERTS:
            raise ConfigError(f"limit must be between 1 and {MAX_ALERTS}")
        params = {"tenant": tenant, "agent": agent, "limit": limit}
        query = load_queries(_QUERIES)["list_alerts"]
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(query, params)).fetchall()
        return [AlertRow.from_row(r) for r in rows]
