"""a2a-sdk's AgentExecutor over our runtime: the agent itself runs on a worker (a queued,
durable run), so executing a request here means reporting that run to the A2A client.

The request context builder has already submitted the task or answered its approval;
`execute` follows the task and publishes a status update per visible change (the output
artifact before a final `completed`), returning when the task ends or waits for a person
(`input-required`). `cancel` cancels the task and reports its final state once the run has
stopped.
"""

from __future__ import annotations

from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events.event_queue_v2 import EventQueue
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError

from server.a2a.auth import principal_of
from server.a2a.follow import follow, wait_settled
from server.a2a.mapping import updates_for
from server.a2a.request_context import WakefulRequestContext
from server.services import TaskService
from stack.errors import Conflict, NotFound

CANCEL_WAIT_S = 10.0


class WakefulAgentExecutor(AgentExecutor):
    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        tenant = principal_of(context.call_context).tenant
        task_id = _task_id(context)
        since = context.answered if isinstance(context, WakefulRequestContext) else None
        async for view in follow(self.tasks, tenant, task_id, since=since):
            for event in updates_for(view.task, view.approval):
                await event_queue.enqueue_event(event)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        principal = principal_of(context.call_context)
        task_id = _task_id(context)
        try:
            before = await self.tasks.get(principal.tenant, task_id)
            await self.tasks.cancel(principal.tenant, task_id, by=f"a2a:{principal.token_name}")
        except NotFound:
            raise TaskNotFoundError from None
        except Conflict as exc:
            raise TaskNotCancelableError(message=str(exc)) from None
        view = await wait_settled(
            self.tasks, principal.tenant, task_id, since=before, timeout=CANCEL_WAIT_S
        )
        for event in updates_for(view.task, view.approval):
            await event_queue.enqueue_event(event)


def _task_id(context: RequestContext) -> str:
    if not context.task_id:
        raise TaskNotFoundError(message="the request names no task")
    return context.task_id
