"""a2a-sdk's TaskStore over our tasks table: the SDK reads and lists our tasks, scoped to the
caller's tenant, and keeps nothing in memory.

Workers own the rows, so a task the SDK saves is not written back: what it holds was read
from the table (or follows from what workers wrote). The one save that carries a request is
the SDK's cancel of a task no executor of this process follows; it becomes our cancel.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from a2a.server.context import ServerCallContext
from a2a.server.tasks import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState
from a2a.utils.constants import DEFAULT_LIST_TASKS_PAGE_SIZE
from a2a.utils.errors import InvalidParamsError, TaskNotCancelableError, UnsupportedOperationError
from psycopg import DataError

from server.a2a.auth import principal_of
from server.a2a.follow import wait_settled
from server.a2a.history import goal_message_ids
from server.a2a.mapping import A2A_TO_STATE, a2a_task
from server.services import Services
from stack.errors import ConfigError, Conflict, NotFound
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")
CANCEL_WAIT_S = 10.0


class WakefulTaskStore(TaskStore):
    def __init__(self, services: Services) -> None:
        self.services = services
        self.tasks = services.tasks

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        principal = principal_of(context)
        try:
            view = await self.tasks.get(principal.tenant, task_id)
        except (NotFound, DataError):  # DataError: an id no task can have (a NUL in it)
            return None
        goal_ids = await goal_message_ids(self.services.engine.pool, [task_id])
        return a2a_task(view.task, view.approval, goal_id=goal_ids.get(task_id))

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        tenant = principal_of(context).tenant
        page_size = params.page_size or DEFAULT_LIST_TASKS_PAGE_SIZE
        if params.status and params.status not in A2A_TO_STATE:
            return ListTasksResponse(page_size=page_size)  # e.g. auth-required: never ours
        state = A2A_TO_STATE.get(params.status) if params.status else None
        if params.context_id:  # a context holds exactly one task: the one with that id
            task = await self.get(params.context_id, context)
            matches = task is not None and state in (None, A2A_TO_STATE[task.status.state])
            tasks = [task] if matches and task is not None else []
            return ListTasksResponse(tasks=tasks, page_size=page_size, total_size=len(tasks))
        after = (params.status_timestamp_after.ToDatetime(tzinfo=UTC)
                 if params.HasField("status_timestamp_after") else None)
        try:  # every filter before paging: full pages, a true next_page_token
            rows, cursor = await self.tasks.list(
                tenant, state=state, cursor=params.page_token or None, limit=page_size,
                updated_after=after,
            )
        except ConfigError as exc:
            raise InvalidParamsError(message=str(exc)) from None
        goal_ids = await goal_message_ids(self.services.engine.pool, [row.id for row in rows])
        return ListTasksResponse(
            tasks=[a2a_task(row, goal_id=goal_ids.get(row.id)) for row in rows],
            next_page_token=cursor or "",
            page_size=page_size,
            total_size=await self._count(tenant, state, after),
        )

    async def save(self, task: Task, context: ServerCallContext) -> None:
        if task.status.state != TaskState.TASK_STATE_CANCELED:
            return  # the workers' rows are the truth; nothing to write
        principal = principal_of(context)
        try:
            view = await self.tasks.get(principal.tenant, task.id)
            if view.task.terminal:
                return
            await self.tasks.cancel(principal.tenant, task.id, by=f"a2a:{principal.token_name}")
        except (NotFound, Conflict) as exc:
            raise TaskNotCancelableError(message=str(exc)) from None
        # A running task stops at its next node boundary: answer once it has.
        await wait_settled(self.tasks, principal.tenant, task.id, since=view, timeout=CANCEL_WAIT_S)

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        raise UnsupportedOperationError(message="tasks are kept; cancel one instead")

    async def _count(self, tenant: str, state: str | None, after: datetime | None) -> int:
        query = "count_tasks" if after is None else "count_changed"
        params = {"tenant": tenant, "state": state, "updated_after": after}
        async with self.services.engine.pool.connection() as conn:
            cur = await conn.execute(load_queries(_QUERIES)[query], params)
            row = await cur.fetchone()
        return int(row["n"]) if row else 0
