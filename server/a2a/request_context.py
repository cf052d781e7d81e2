"""Turning an A2A message into our request, before the SDK starts following a task.

A message with no task id submits a task: its text is the goal; `agent` and `budgets` come
from a data part, the message's metadata or the request's metadata (in that order of
precedence), the default agent when none is named. The task id is ours, and so is the
context id (the same id). A message naming a task answers its pending approval (see
replies.py); that needs the approver role and a task in `input-required`.

Errors surface here, as JSON-RPC errors, before the SDK has made anything of the request.
"""

from __future__ import annotations

from typing import Any

from a2a.helpers.proto_helpers import get_data_parts, get_text_parts
from a2a.server.agent_execution import RequestContext, RequestContextBuilder
from a2a.server.context import ServerCallContext
from a2a.types.a2a_pb2 import SendMessageRequest, Task
from a2a.utils.errors import (
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict
from psycopg import DataError

from server.a2a.auth import principal_of, require_role
from server.a2a.replies import decision_from_message, whole_numbers
from server.services import TaskService, TaskView
from stack.errors import ConfigError, Conflict, NotFound

OPTION_KEYS = ("agent", "budgets")


class WakefulRequestContext(RequestContext):
    """The SDK's request context, plus the view the answered approval was read in (so the
    executor reports what follows the answer, not the approval it answered)."""

    answered: TaskView | None = None


class WakefulRequestContextBuilder(RequestContextBuilder):
    def __init__(self, tasks: TaskService) -> None:
        self.tasks = tasks

    async def build(
        self,
        context: ServerCallContext,
        params: SendMessageRequest | None = None,
        task_id: str | None = None,
        context_id: str | None = None,
        task: Task | None = None,
    ) -> RequestContext:
        if params is None:
            return RequestContext(call_context=context, task_id=task_id, context_id=context_id)
        if task_id:
            return await self._answer(context, params, task_id)
        return await self._submit(context, params)

    async def _submit(
        self, context: ServerCallContext, params: SendMessageRequest
    ) -> RequestContext:
        principal = require_role(context, "submitter")
        goal = "\n".join(get_text_parts(params.message.parts)).strip()
        options = message_options(params)
        try:
            row = await self.tasks.submit(
                principal.tenant,
                goal=goal or None,
                agent=_optional_str(options.get("agent"), "agent"),
                budgets=options.get("budgets"),
            )
        except (ConfigError, DataError) as exc:  # DataError: e.g. a NUL character
            raise InvalidParamsError(message=first_line(exc)) from None
        except Conflict as exc:  # the kill switch is on
            raise UnsupportedOperationError(message=str(exc)) from None
        return WakefulRequestContext(
            call_context=context, request=params, task_id=row.id, context_id=row.id
        )

    async def _answer(
        self, context: ServerCallContext, params: SendMessageRequest, task_id: str
    ) -> RequestContext:
        principal = principal_of(context)
        try:
            view = await self.tasks.get(principal.tenant, task_id)
        except NotFound:
            raise TaskNotFoundError from None
        if view.task.state != "input-required":
            raise InvalidParamsError(
                message=f"task {task_id} is {view.task.state}; only a task in input-required "
                "(waiting for an approval) takes a reply"
            )
        require_role(context, "approver")
        decision = decision_from_message(params.message, decided_by=principal.token_name)
        try:
            await self.tasks.decide(principal.tenant, task_id, decision)
        except (Conflict, DataError) as exc:
            raise InvalidParamsError(message=first_line(exc)) from None
        request = WakefulRequestContext(
            call_context=context, request=params, task_id=task_id, context_id=task_id
        )
        request.answered = view
        return request


def message_options(params: SendMessageRequest) -> dict[str, Any]:
    """`agent` and `budgets` for a new task, from wherever the client put them."""
    options: dict[str, Any] = {}
    sources: list[Any] = [
        MessageToDict(params.metadata),
        MessageToDict(params.message.metadata),
        *get_data_parts(params.message.parts),
    ]
    for source in sources:
        if isinstance(source, dict):
            options.update({k: source[k] for k in OPTION_KEYS if source.get(k) is not None})
    if "budgets" in options:
        options["budgets"] = whole_numbers(options["budgets"])
    return options


def first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _optional_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise InvalidParamsError(message=f"`{name}` must be a string")
