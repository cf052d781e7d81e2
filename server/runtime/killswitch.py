"""The kill switches: a global one for every process sharing the database (installation
admins), and one per tenant (its admins), which stops only that tenant's work.

On: every task (of the tenant, for a tenant's switch) that has not ended is stopped
(running ones at their next node boundary, their in-flight model call abandoned at once;
queued or waiting ones end canceled now), no iteration of a continuous agent starts, and
new tasks are refused. Off: scheduling resumes,
with one catch-up iteration per agent whose tick was missed meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from stack.lifecycle import Stopped, TaskLifecycle
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")


@dataclass(frozen=True)
class KillSwitchState:
    on: bool
    changed_by: str | None
    changed_at: datetime | None


class KillSwitch:
    def __init__(self, pool: AsyncConnectionPool, control: TaskLifecycle) -> None:
        self.pool = pool
        self.control = control

    async def set(self, on: bool, by: str) -> list[Stopped]:
        """Flip the switch; returns the tasks it stopped (none when turned off)."""
        async with self.pool.connection() as conn:
            await conn.execute(load_queries(_QUERIES)["set_killswitch"], {"on": on, "by": by})
        if not on:
            return []
        return await self.control.cancel_open(by=f"killswitch ({by})")

    async def set_tenant(self, tenant: str, on: bool, by: str) -> list[Stopped]:
        """Flip `tenant`'s own switch; returns that tenant's tasks it stopped."""
        params = {"tenant": tenant, "on": on, "by": by}
        async with self.pool.connection() as conn:
            await conn.execute(load_queries(_QUERIES)["set_tenant_killswitch"], params)
        if not on:
            return []
        return await self.control.cancel_open(by=f"killswitch ({by})", tenant=tenant)

    async def is_on(self, tenant: str | None = None) -> bool:
        """The global switch is on, or (given a tenant) that tenant's own."""
        if (await self.state()).on:
            return True
        return tenant is not None and (await self.tenant_state(tenant)).on

    async def tenant_state(self, tenant: str) -> KillSwitchState:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                load_queries(_QUERIES)["get_tenant_killswitch"], {"tenant": tenant}
            )
            row = await cur.fetchone()
        if row is None:
            return KillSwitchState(False, None, None)
        return KillSwitchState(bool(row["value"]), row["changed_by"], row["changed_at"])

    async def state(self) -> KillSwitchState:
        async with self.pool.connection() as conn:
            cur = await conn.execute(load_queries(_QUERIES)["get_killswitch"])
            row = await cur.fetchone()
        if row is None:
            return KillSwitchState(False, None, None)
        return KillSwitchState(bool(row["value"]), row["changed_by"], row["changed_at"])
