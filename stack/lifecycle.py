"""The task lifecycle: the one place a task changes state.

The rules live in SQL (stack/lifecycle.sql): for every target state the states it may
come from, the run lease, the state_change event and usage written in the same
transaction. This module is their Python face; every caller — the CLI's run and resume,
workers, the scheduler, REST, A2A, the kill switch — goes through it.

A run holds a lease on its task: an owner, an epoch (a fencing token that grows with every
claim) and an expiry that a heartbeat (stack/leases.py) keeps pushing out. Writes made by a
run carry its epoch, so a run that lost its lease (taken over after it expired) can write
nothing more and learns it at its next node boundary.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from stack.errors import (
    ConfigError,
    Conflict,
    KillSwitchOn,
    LeaseLost,
    NotFound,
    TransitionRefused,
    WakefulError,
)
from stack.task_records import TaskRow, TaskState, new_task_id

DEFAULT_LEASE_SECONDS = 30.0
_HOST = socket.gethostname()
_runs = count(1)


class LeaseHeld(Conflict):
    """Another run holds the task."""

    def __init__(self, task: TaskRow, owner: str, until: datetime | None) -> None:
        left = max(0.0, (until - datetime.now(UTC)).total_seconds()) if until else 0.0
        super().__init__(
            f"task {task.id} is being run by {owner} (its lease runs {left:.0f} s more); "
            "wait for that run, or stop it first"
        )
        self.task = task
        self.owner = owner
        self.seconds_left = left


class TokenInactive(WakefulError):
    """The token a submit was checked against is revoked, expired or unknown (WK401)."""


class AgentSpecChanged(WakefulError):
    """The agent's spec changed since the submitter read it (WK412): nothing was written."""


@dataclass(frozen=True)
class JobFields:
    """A procrastinate job to queue with a task (wakeful_submit_task), as the queue's owner
    built it."""

    queue: str
    task_name: str
    priority: int
    lock: str | None
    args: dict[str, Any]


_ERRORS: dict[str, type[WakefulError]] = {
    "WK401": TokenInactive,
    "WK412": AgentSpecChanged,
    "WK404": NotFound,
    "WK409": TransitionRefused,
    "WK410": LeaseLost,
    "WK422": ConfigError,
    "WK423": KillSwitchOn,
}


@contextmanager
def _translated() -> Iterator[None]:
    """The lifecycle's own SQLSTATEs become wakeful errors with the function's message."""
    try:
        yield
    except psycopg.Error as exc:
        error = _ERRORS.get(exc.sqlstate or "")
        if error is None:
            raise
        message = exc.diag.message_primary or str(exc)
        raise error(message) from None


def run_owner(role: str) -> str:
    """A lease owner name unique to one run: `role@host:pid#n`."""
    return f"{role}@{_HOST}:{os.getpid()}#{next(_runs)}"


def owner_is_dead_here(owner: str) -> bool:
    """True when `owner` names a process on this host that no longer exists."""
    try:
        place = owner.split("@", 1)[1].split("#", 1)[0]
        host, pid = place.rsplit(":", 1)
        if host != _HOST:
            return False
        os.kill(int(pid), 0)
    except (IndexError, ValueError):
        return False
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def request_sha256(request: dict[str, Any]) -> str:
    """What an idempotency key stands for: the request's canonical JSON."""
    raw = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Lease:
    task_id: str
    owner: str
    epoch: int


@dataclass(frozen=True)
class Stopped:
    """A task the kill switch stopped: ended now, or (running) at its next boundary."""

    id: str
    running: bool


@dataclass(frozen=True)
class Claim:
    """What claiming found: a lease to run with, or why not (the task row tells)."""

    task: TaskRow
    lease: Lease | None

    @property
    def held_by(self) -> str | None:
        if self.lease is None and self.task.state == "working" and self.task.lease_owner:
            return self.task.lease_owner
        return None


class TaskLifecycle:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def _conn(self, conn: AsyncConnection[Any] | None) -> AsyncIterator[Any]:
        if conn is not None:
            yield conn
            return
        async with self.pool.connection() as own:
            yield own

    async def _rows(
        self, query: str, params: dict[str, Any], conn: AsyncConnection[Any] | None = None
    ) -> list[dict[str, Any]]:
        with _translated():
            async with self._conn(conn) as c:
                cur = await c.execute(query, params)
                return list(await cur.fetchall())

    async def _task(
        self, query: str, params: dict[str, Any], conn: AsyncConnection[Any] | None = None
    ) -> TaskRow:
        rows = await self._rows(query, params, conn)
        if not rows:
            raise NotFound(f"no task with id {params.get('id')}")
        return TaskRow.from_row(rows[0])

    async def create(
        self,
        *,
        goal: str,
        agent: str,
        budgets: dict[str, Any],
        agent_spec: dict[str, Any],
        tenant: str = "local",
        task_id: str | None = None,
        idempotency_key: str | None = None,
        request: dict[str, Any] | None = None,
        conn: AsyncConnection[Any] | None = None,
    ) -> tuple[TaskRow, bool]:
        """Create a submitted task; (task, created). With `idempotency_key`, a repeat of the
        same `request` returns the first task (created False); another request is refused."""
        params = {
            "id": task_id or new_task_id(),
            "tenant": tenant,
            "agent": agent,
            "goal": goal,
            "budgets": Jsonb(budgets),
            "spec": Jsonb(agent_spec),
            "key": idempotency_key,
            "sha": request_sha256(request) if idempotency_key and request is not None else None,
        }
        task = await self._task(
            "SELECT * FROM wakeful_create_task(%(id)s, %(tenant)s, %(agent)s, %(goal)s,"
            " %(budgets)s, %(spec)s, p_idempotency_key => %(key)s,"
            " p_request_sha256 => %(sha)s)",
            params,
            conn,
        )
        return task, task.id == params["id"]

    async def submit(
        self,
        *,
        task_id: str,
        goal: str,
        agent: str,
        budgets: dict[str, Any],
        agent_spec: dict[str, Any],
        tenant: str,
        job: JobFields,
        idempotency_key: str | None = None,
        request: dict[str, Any] | None = None,
        token_sha256: str | None = None,
        agent_spec_md5: str | None = None,
    ) -> tuple[TaskRow, bool]:
        """`create` and, when it created the task, queue `job` (the task's run): one
        statement, one transaction. With `token_sha256` the token must still be active for
        `tenant` (TokenInactive); with `agent_spec_md5` the agent's stored spec must still
        hash to it (AgentSpecChanged). Either refusal writes nothing."""
        params = {
            "id": task_id,
            "tenant": tenant,
            "agent": agent,
            "goal": goal,
            "budgets": Jsonb(budgets),
            "spec": Jsonb(agent_spec),
            "queue": job.queue,
            "job_task": job.task_name,
            "priority": job.priority,
            "lock": job.lock,
            "args": Jsonb(job.args),
            "key": idempotency_key,
            "sha": request_sha256(request) if idempotency_key and request is not None else None,
            "token": token_sha256,
            "spec_md5": agent_spec_md5,
        }
        task = await self._task(
            "SELECT * FROM wakeful_submit_task(%(id)s, %(tenant)s, %(agent)s, %(goal)s,"
            " %(budgets)s, %(spec)s, %(queue)s, %(job_task)s, %(priority)s, %(lock)s,"
            " %(args)s, p_idempotency_key => %(key)s, p_request_sha256 => %(sha)s,"
            " p_token_sha256 => %(token)s, p_agent_spec_md5 => %(spec_md5)s)",
            params,
        )
        return task, task.id == task_id

    async def start_iteration(
        self,
        conn: AsyncConnection[Any],
        *,
        agent_id: str,
        goal: str,
        budgets: dict[str, Any],
        agent_spec: dict[str, Any],
    ) -> TaskRow | None:
        """Start an iteration of a continuous agent if it is still due and free (None: not)."""
        rows = await self._rows(
            "SELECT * FROM wakeful_start_iteration(%(id)s, %(agent)s, %(goal)s, %(budgets)s,"
            " %(spec)s)",
            {
                "id": new_task_id(),
                "agent": agent_id,
                "goal": goal,
                "budgets": Jsonb(budgets),
                "spec": Jsonb(agent_spec),
            },
            conn,
        )
        return TaskRow.from_row(rows[0]) if rows else None

    async def claim(
        self,
        task_id: str,
        owner: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        detail: dict[str, Any] | None = None,
    ) -> Claim:
        """Take the task for a run by `owner` (`detail` goes into its run_started event). A
        lease held by a dead process of this host is taken over at once; one held elsewhere
        leaves `Claim.held_by` set."""
        params = {
            "id": task_id,
            "owner": owner,
            "ttl": lease_seconds,
            "steal": None,
            "detail": Jsonb(detail) if detail else None,
        }
        query = (
            "SELECT * FROM wakeful_claim(%(id)s, %(owner)s, %(ttl)s, %(steal)s,"
            " p_detail => %(detail)s)"
        )
        task = await self._task(query, params)
        if task.lease_owner not in (None, owner) and owner_is_dead_here(task.lease_owner):
            task = await self._task(query, {**params, "steal": task.lease_owner})
        lease = Lease(task.id, owner, task.lease_epoch) if task.lease_owner == owner else None
        return Claim(task, lease)

    async def transition(
        self,
        task_id: str,
        to: TaskState,
        *,
        stop_reason: str | None = None,
        output: str | None = None,
        usage: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        lease: Lease | None = None,
        tenant: str | None = None,
        conn: AsyncConnection[Any] | None = None,
    ) -> TaskRow:
        """Move the task to `to` (TransitionRefused names both states when there is no such
        edge; LeaseLost when `lease` is no longer this run's)."""
        params = {
            "id": task_id,
            "to": to,
            "reason": stop_reason,
            "output": output,
            "usage": Jsonb(usage) if usage is not None else None,
            "detail": Jsonb(detail) if detail else None,
            "epoch": lease.epoch if lease else None,
            "tenant": tenant,
        }
        return await self._task(
            "SELECT * FROM wakeful_transition(%(id)s, %(to)s, %(reason)s, %(output)s,"
            " %(usage)s, %(detail)s, %(epoch)s, %(tenant)s)",
            params,
            conn,
        )

    async def cancel(self, task_id: str, *, by: str, tenant: str | None = None) -> TaskRow:
        """Stop a task: now when nothing runs it, at its next node boundary when a run does.
        An ended task is refused with its state."""
        try:
            return await self._task(
                "SELECT * FROM wakeful_cancel(%(id)s, %(by)s, %(tenant)s)",
                {"id": task_id, "by": by, "tenant": tenant},
            )
        except TransitionRefused:
            task = await self._task("SELECT * FROM tasks WHERE id = %(id)s", {"id": task_id})
            raise TransitionRefused(f"task {task_id} already ended: {task.state}") from None

    async def cancel_open(
        self, *, by: str, tenant: str | None = None, batch: int | None = None
    ) -> list[Stopped]:
        """The kill switch's cancel: open tasks (of `tenant`, or all; at most `batch` of
        them, None: every one) stop — at once when nothing runs them, at their next node
        boundary when a run does. Rows held by another transaction at that moment are
        skipped (the next batch takes them): see `open_left`."""
        rows = await self._rows(
            "SELECT * FROM wakeful_cancel_open(%(by)s, %(tenant)s, %(batch)s)",
            {"by": by, "tenant": tenant, "batch": batch},
        )
        return [Stopped(row["task_id"], row["running"]) for row in rows]

    async def open_left(self, *, tenant: str | None = None) -> int:
        """Open tasks (of `tenant`, or all) that `cancel_open` has not stopped yet."""
        rows = await self._rows("SELECT wakeful_open_left(%(tenant)s) AS n", {"tenant": tenant})
        return int(rows[0]["n"])

    async def answered(
        self, conn: AsyncConnection[Any], task_id: str, *, tenant: str, by: str, action: str
    ) -> TaskRow:
        """In the caller's transaction: a person answered; input-required → working."""
        return await self.transition(
            task_id, "working", detail={"by": by, "decision": action}, tenant=tenant, conn=conn
        )

    async def release(self, lease: Lease) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("SELECT wakeful_release_lease(%s, %s)", (lease.task_id, lease.epoch))

    async def count_run_error(self, task_id: str, error: str) -> int:
        rows = await self._rows(
            "SELECT wakeful_count_run_error(%(id)s, %(error)s) AS n",
            {"id": task_id, "error": error},
        )
        return int(rows[0]["n"])

    async def orphans(self, *, older_than_seconds: float) -> list[str]:
        rows = await self._rows(
            "SELECT task_id FROM wakeful_orphans(%(s)s)", {"s": older_than_seconds}
        )
        return [row["task_id"] for row in rows]

    async def allowed_from(self, target: str) -> list[str]:
        rows = await self._rows("SELECT wakeful_allowed_from(%(t)s) AS s", {"t": target})
        return list(rows[0]["s"])
