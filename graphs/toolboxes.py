"""The MCP servers of the runs in this process, kept up while their task waits for a person.

A run opens its agent's MCP servers and closes them when it ends. A run that stops to ask
a person (an approval, a did-this-happen question) would lose a stateful server's state
(an open browser page, a session, a working directory) if the servers went with it, so
its toolbox is parked here instead: the next run of the same task in this process takes
it back, its servers still running. A parked toolbox is closed after
`WAKEFUL_MCP_KEEP_SECONDS`, when more than `MAX_PARKED` wait, when the engine closes, or
once its task has ended (canceled, by the kill switch too): a check every
`RECHECK_SECONDS` asks the database. A task that was answered is `working` before its run
starts here to take the servers back, so only an ended task lets them go early.

Only this process can hand a parked toolbox back: a task resumed by another worker starts
its servers afresh, as it would after a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from psycopg_pool import AsyncConnectionPool

from graphs.context import builtin_registry, toolset_for
from graphs.spec import AgentSpec
from stack.settings import Settings
from tools.registry import Toolset

if TYPE_CHECKING:
    from tools.mcp.toolbox import McpToolbox

log = logging.getLogger(__name__)
MAX_PARKED = 64
RECHECK_SECONDS = 30.0
STILL_OPEN = (
    "SELECT id FROM tasks WHERE id = ANY(%s)"
    " AND state NOT IN ('completed', 'failed', 'canceled', 'rejected')"
)


@dataclass
class OpenToolset:
    """A run's toolset; `keep()` parks its MCP servers when the run's block ends."""

    toolset: Toolset
    kept: bool = field(default=False)

    def keep(self) -> None:
        self.kept = True


@dataclass
class _Parked:
    toolbox: McpToolbox
    servers: str  # digest of the server configs: a changed spec gets new servers
    expiry: asyncio.TimerHandle


class TaskToolboxes:
    """Opens runs' toolsets and keeps the MCP servers of runs waiting for a person."""

    def __init__(self, settings: Settings, pool: AsyncConnectionPool | None) -> None:
        self.settings = settings
        self.pool = pool
        self._parked: OrderedDict[str, _Parked] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self._recheck: asyncio.TimerHandle | None = None

    @asynccontextmanager
    async def open(
        self, task_id: str, spec: AgentSpec, *, continuous: bool = False
    ) -> AsyncIterator[OpenToolset]:
        """The agent's tools, built-ins and MCP, for one run of `task_id`.

        MCP servers come from the task's parked toolbox when there is one for the same
        servers, else they are started, their tools discovered and pinned. Leaving the
        block closes them, unless the run called `keep()`.
        """
        if not spec.mcp_servers:
            yield OpenToolset(toolset_for(spec, self.settings, continuous=continuous))
            return
        from tools.mcp.pinning import PinStore  # the MCP SDK is slow to import; only when used
        from tools.mcp.toolbox import McpToolbox

        servers = _digest(spec)
        pins = PinStore(self.pool) if self.pool is not None else None
        toolbox = self._take(task_id, servers)
        if toolbox is None:
            toolbox = await McpToolbox.open(spec.mcp_servers, pins=pins)
        else:
            log.info("task %s: its MCP servers kept running while it waited", task_id)
            await toolbox.recheck_approvals(pins)  # a tool approved meanwhile is usable
        opened = OpenToolset(
            toolbox.toolset(
                builtin_registry(spec, self.settings), spec.tools, continuous=continuous
            )
        )
        try:
            yield opened
        except BaseException:
            await toolbox.aclose()
            raise
        if opened.kept:
            self._park(task_id, servers, toolbox)
        else:
            await toolbox.aclose()

    def parked(self, task_id: str) -> bool:
        return task_id in self._parked

    def _take(self, task_id: str, servers: str) -> McpToolbox | None:
        parked = self._parked.pop(task_id, None)
        if parked is None:
            return None
        parked.expiry.cancel()
        if parked.servers != servers:
            self._close_later(parked.toolbox)
            return None
        return parked.toolbox

    def _park(self, task_id: str, servers: str, toolbox: McpToolbox) -> None:
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(self.settings.mcp_keep_seconds, self._expire, task_id)
        self._parked[task_id] = _Parked(toolbox, servers, expiry)
        while len(self._parked) > MAX_PARKED:
            _, oldest = self._parked.popitem(last=False)
            oldest.expiry.cancel()
            self._close_later(oldest.toolbox)
        if self._recheck is None and self.pool is not None:
            self._recheck = loop.call_later(RECHECK_SECONDS, self._recheck_later)

    def _recheck_later(self) -> None:
        self._recheck = None
        closing = asyncio.get_running_loop().create_task(self.release_ended())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def release_ended(self) -> list[str]:
        """Stop the servers of parked tasks that have ended; their ids. Checks again later
        while any stay parked."""
        if self.pool is None or not self._parked:
            return []
        ids = list(self._parked)
        try:
            async with self.pool.connection() as conn:
                rows = await (await conn.execute(STILL_OPEN, (ids,))).fetchall()
        except Exception as exc:  # the database is away: keep them, ask again later
            log.warning("could not check parked tasks' state: %s", exc)
            rows = [{"id": task_id} for task_id in ids]
        still_open = {row["id"] for row in rows}
        released = [task_id for task_id in ids if task_id not in still_open]
        for task_id in released:
            parked = self._parked.pop(task_id, None)
            if parked is not None:
                log.info("task %s has ended: its MCP servers are stopped", task_id)
                parked.expiry.cancel()
                self._close_later(parked.toolbox)
        if self._parked and self._recheck is None:
            self._recheck = asyncio.get_running_loop().call_later(
                RECHECK_SECONDS, self._recheck_later
            )
        return released

    def _expire(self, task_id: str) -> None:
        parked = self._parked.pop(task_id, None)
        if parked is not None:
            log.info("task %s still waits: its MCP servers are stopped", task_id)
            self._close_later(parked.toolbox)

    def _close_later(self, toolbox: McpToolbox) -> None:
        closing = asyncio.get_running_loop().create_task(toolbox.aclose())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Stop every parked toolbox's servers (the process is shutting down)."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        while self._parked:
            _, parked = self._parked.popitem()
            parked.expiry.cancel()
            self._close_later(parked.toolbox)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


def _digest(spec: AgentSpec) -> str:
    configs = [server.model_dump(mode="json") for server in spec.mcp_servers]
    return hashlib.sha256(json.dumps(configs, sort_keys=True, default=str).encode()).hexdigest()
