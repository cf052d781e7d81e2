"""The kill switches: a global one for every process sharing the database (installation
admins), and one per tenant (its admins), which stops only that tenant's work.

On: the switch is in effect the moment its flag is written — no task is created or claimed,
no iteration of a continuous agent starts, and a running task stops at its next node
boundary (its in-flight model call abandoned at once, by notification). Then every task
(of the tenant, for a tenant's switch) that has not ended is stopped in bounded batches
(stack/lifecycle.sql wakeful_cancel_open, rows held by a run at that moment skipped and
taken by a later batch): queued or waiting ones end canceled, running ones are flagged. The
call stops as many as it can within its time budget and says how many remain; those are
stopped by a sweep in the background (and, whatever happens to it, are refused at their
next claim or node boundary). Off: scheduling resumes, with one catch-up iteration per
agent whose tick was missed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from stack.lifecycle import Stopped, TaskLifecycle
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")
log = logging.getLogger(__name__)

# Tasks one cancel statement takes: bounds its transaction (and how long it holds the rows
# it locks) while keeping the per-statement overhead small (benchmarks/scale.py).
CANCEL_BATCH = 1000
# How long a sweep waits before trying again rows another transaction held.
_RETRY_S = 0.2
_HELD_WAIT_S = 5.0  # how long a flip retries rows other transactions hold


@dataclass(frozen=True)
class KillSwitchState:
    on: bool
    changed_by: str | None
    changed_at: datetime | None


class StoppedTasks(list[Stopped]):
    """The tasks one flip of a switch stopped, and how many open ones it left to its
    background sweep (`remaining`)."""

    remaining: int = 0

    @property
    def canceled(self) -> int:
        """Ended canceled now."""
        return sum(1 for task in self if not task.running)

    @property
    def stopping(self) -> int:
        """Running: flagged, they stop at their next node boundary."""
        return sum(1 for task in self if task.running)


class KillSwitch:
    def __init__(
        self, pool: AsyncConnectionPool, control: TaskLifecycle, *, batch: int = CANCEL_BATCH
    ) -> None:
        self.pool = pool
        self.control = control
        self.batch = batch
        self._sweeps: set[asyncio.Task[None]] = set()

    async def set(
        self, on: bool, by: str, *, wait_seconds: float | None = None, sweep: bool = False
    ) -> StoppedTasks:
        """Flip the switch; returns the tasks it stopped (none when turned off).

        The switch is in effect once this call has written it. Open tasks are then stopped
        in batches until none is left, or (at least one batch) while the next batch would
        still end within `wait_seconds` (None: no limit); with `sweep`, a background task
        stops the rest (StoppedTasks.remaining)."""
        async with self.pool.connection() as conn:
            await conn.execute(load_queries(_QUERIES)["set_killswitch"], {"on": on, "by": by})
        if not on:
            return StoppedTasks()
        return await self._stop_open(f"killswitch ({by})", None, wait_seconds, sweep)

    async def set_tenant(
        self,
        tenant: str,
        on: bool,
        by: str,
        *,
        wait_seconds: float | None = None,
        sweep: bool = False,
    ) -> StoppedTasks:
        """Flip `tenant`'s own switch; returns that tenant's tasks it stopped (see `set`)."""
        params = {"tenant": tenant, "on": on, "by": by}
        async with self.pool.connection() as conn:
            await conn.execute(load_queries(_QUERIES)["set_tenant_killswitch"], params)
        if not on:
            return StoppedTasks()
        return await self._stop_open(f"killswitch ({by})", tenant, wait_seconds, sweep)

    async def _stop_open(
        self, by: str, tenant: str | None, wait_seconds: float | None, sweep: bool
    ) -> StoppedTasks:
        stopped = StoppedTasks()
        deadline = None if wait_seconds is None else time.monotonic() + wait_seconds
        held_until = time.monotonic() + _HELD_WAIT_S
        while True:
            started = time.monotonic()
            batch = await self.control.cancel_open(by=by, tenant=tenant, batch=self.batch)
            stopped.extend(batch)
            now = time.monotonic()
            # the next batch would end past the budget if it takes as long as this one
            late = deadline is not None and now + (now - started) > deadline
            if len(batch) == self.batch and not late:
                continue
            # a short batch: none left, or rows another transaction held a moment ago
            stopped.remaining = await self.control.open_left(tenant=tenant)
            if not stopped.remaining or late:
                break
            if not batch:  # only held rows are left (a run renewing its lease, writing a step)
                if now > held_until:
                    break  # the sweep, a claim or the next node boundary stops them
                await asyncio.sleep(_RETRY_S)
        if stopped.remaining and sweep:
            task = asyncio.create_task(self._sweep(by, tenant))
            self._sweeps.add(task)
            task.add_done_callback(self._sweeps.discard)
        return stopped

    async def _sweep(self, by: str, tenant: str | None) -> None:
        """Stop the open tasks a flip left, batch after batch, while the switch stays on."""
        stopped = 0
        try:
            while await self._still_on(tenant):
                batch = await self.control.cancel_open(by=by, tenant=tenant, batch=self.batch)
                stopped += len(batch)
                if len(batch) < self.batch:
                    if not await self.control.open_left(tenant=tenant):
                        break
                    await asyncio.sleep(_RETRY_S)
        except Exception:  # the next claim or node boundary still refuses what is left
            log.exception("kill switch sweep stopped after %d tasks", stopped)
            return
        log.info(
            "kill switch sweep stopped %d more tasks%s",
            stopped,
            f" of tenant {tenant}" if tenant else "",
        )

    async def _still_on(self, tenant: str | None) -> bool:
        if tenant is None:
            return (await self.state()).on
        return (await self.tenant_state(tenant)).on

    async def sweep_all(self) -> int:
        """Stop what every switch that is on left open (a flip's own sweep lives in its
        process and ends with it): run by the maintenance queue every minute."""
        stopped = 0
        if (await self.state()).on:
            stopped += len(await self._stop_open("killswitch (sweep)", None, None, False))
            return stopped  # every tenant's open tasks are in that
        async with self.pool.connection() as conn:
            cur = await conn.execute(load_queries(_QUERIES)["tenants_stopped"])
            tenants = [row["tenant"] for row in await cur.fetchall()]
        for tenant in tenants:
            stopped += len(await self._stop_open("killswitch (sweep)", tenant, None, False))
        return stopped

    async def sweeps_done(self) -> None:
        """Wait for the background sweeps started so far (tests, shutdown)."""
        while self._sweeps:
            await asyncio.gather(*self._sweeps, return_exceptions=True)

    async def left(self, tenant: str | None = None) -> int:
        """Open tasks (of `tenant`, or every tenant's) no switch has stopped yet."""
        return await self.control.open_left(tenant=tenant)

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
