"""MCP progress notifications for a tools/call whose request carries a `progressToken`: one
when the task's visible state changes (started, waiting, ended) and a heartbeat while it
runs, so a client can show that the agent works and keep its request timeout from expiring
(clients reset it on progress). Progress is a count that only grows; no total is known."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.lowlevel import Server

from server.services import TaskView

HEARTBEAT_S = 10.0


class Progress:
    """The progress reporter of the current request (a no-op without a progress token)."""

    def __init__(self, server: Server) -> None:
        context = server.request_context
        self.session = context.session
        self.request_id = context.request_id
        self.token = context.meta.progressToken if context.meta is not None else None
        self.count = 0
        self.message = "submitted"

    async def send(self, message: str) -> None:
        if self.token is None:
            return
        self.count += 1
        self.message = message
        await self.session.send_progress_notification(
            self.token, float(self.count), message=message, related_request_id=self.request_id
        )

    async def saw(self, view: TaskView) -> None:
        await self.send(f"task {view.task.id} {view.task.state}")

    @asynccontextmanager
    async def heartbeat(self) -> AsyncIterator[None]:
        """While the body runs, repeat the last message every HEARTBEAT_S seconds."""
        if self.token is None:
            yield
            return
        async with anyio.create_task_group() as group:
            group.start_soon(self._beat)
            try:
                yield
            finally:
                group.cancel_scope.cancel()

    async def _beat(self) -> None:
        while True:
            await anyio.sleep(HEARTBEAT_S)
            await self.send(self.message)
