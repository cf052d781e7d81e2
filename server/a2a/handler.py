"""The SDK's default request handler, with our store, executor and request context builder,
and one method of our own: SubscribeToTask.

The SDK serves a resubscription from the in-memory run of the process that started the
task. Our runs live on workers and tasks may come from REST, the CLI or another server
process, so a subscription here follows the task in the database instead: the task as it is
now, then a status update per change, until it ends or waits for a person (again: a task
waiting already is followed past the answer, until it ends or waits once more).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from a2a.server.context import ServerCallContext
from a2a.server.events import Event
from a2a.server.request_handlers import DefaultRequestHandlerV2, validate_request_params
from a2a.types.a2a_pb2 import AgentCard, SubscribeToTaskRequest
from a2a.utils.errors import TaskNotFoundError, UnsupportedOperationError
from psycopg import DataError

from server.a2a.auth import principal_of
from server.a2a.executor import WakefulAgentExecutor
from server.a2a.follow import follow
from server.a2a.mapping import a2a_task, updates_for
from server.a2a.push_store import WakefulPushConfigStore
from server.a2a.request_context import WakefulRequestContextBuilder
from server.a2a.task_store import WakefulTaskStore
from server.services import Services
from stack.errors import NotFound

# An SDK run object parked in input-required is let go after this long; a later reply
# builds a new one from the tasks table.
PARKED_RELEASE_S = 60.0


class WakefulRequestHandler(DefaultRequestHandlerV2):
    def __init__(self, services: Services, agent_card: AgentCard) -> None:
        super().__init__(
            agent_executor=WakefulAgentExecutor(services.tasks),
            task_store=WakefulTaskStore(services),
            agent_card=agent_card,
            request_context_builder=WakefulRequestContextBuilder(services.tasks),
            # configs only: the outbox (push_delivery.py) sends, not the SDK's sender
            push_config_store=WakefulPushConfigStore(services.engine.pool),
            interrupted_task_timeout=PARKED_RELEASE_S,
            # a part of a media type the card does not list is -32005, not silently dropped
            validate_input_modes=True,
        )
        self.tasks = services.tasks

    @validate_request_params
    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event, None]:
        tenant = principal_of(context).tenant
        try:
            view = await self.tasks.get(tenant, params.id)
        except (NotFound, DataError):
            raise TaskNotFoundError from None
        if view.task.terminal:
            raise UnsupportedOperationError(
                message=f"task {params.id} already ended ({view.task.state}); use GetTask"
            )
        yield a2a_task(view.task, view.approval)
        async for changed in follow(self.tasks, tenant, params.id, since=view):
            for event in updates_for(changed.task, changed.approval):
                yield event
