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
    ContentTypeNotSupportedError,
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from google.protobuf.json_format import MessageToDict
from procrastinate.exceptions import ConnectorException
from psycopg import DataError

from graphs.budgets import parse_overrides
from server.a2a.auth import principal_of, require_role
from server.a2a.history import record_message
from server.a2a.replies import decision_from_message
from server.services import TaskService, TaskView
from stack.errors import ConfigError, Conflict, NotFound

OPTION_KEYS = ("agent", "budgets")
# What the database cannot store as text; refused up front with the field's name.
NUL = "\x00"


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
        refuse_files(params)
        if task_id:
            return await self._answer(context, params, task_id)
        return await self._submit(context, params)

    async def _submit(
        self, context: ServerCallContext, params: SendMessageRequest
    ) -> RequestContext:
        principal = require_role(context, "submitter")
        refuse_nul(params)
        goal = "\n".join(get_text_parts(params.message.parts)).strip()
        options = message_options(params)
        try:
            row = await self.tasks.submit(
                principal.tenant,
                goal=goal or None,
                agent=_optional_str(options.get("agent"), "agent"),
                budgets=options.get("budgets"),
                # a retried message (same messageId) returns the task it made the first time
                idempotency_key=params.message.message_id or None,
            )
        except (ConfigError, DataError) as exc:  # DataError: a value Postgres refuses
            raise InvalidParamsError(message=first_line(exc)) from None
        except Conflict as exc:  # the kill switch is on
            raise UnsupportedOperationError(message=str(exc)) from None
        await record_message(self.tasks.pool, row.id, params.message.message_id)
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
        if view.task.terminal:
            raise UnsupportedOperationError(
                message=f"task {task_id} already ended ({view.task.state}); a new message "
                "without a task id starts a new task"
            )
        if view.task.state != "input-required":
            raise InvalidParamsError(
                message=f"task {task_id} is {view.task.state}; only a task in input-required "
                "(waiting for a decision) takes a reply"
            )
        require_role(context, "approver")
        refuse_nul(params)
        decision = decision_from_message(
            params.message, view.approval, decided_by=principal.token_name
        )
        try:
            await self.tasks.decide(principal.tenant, task_id, decision)
        except (Conflict, DataError, ConnectorException) as exc:
            raise InvalidParamsError(message=first_line(exc.__cause__ or exc)) from None
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
        options["budgets"] = a2a_budgets(options["budgets"])
    return options


def a2a_budgets(raw: Any) -> dict[str, Any]:
    """Budget overrides from a message, in the JSON names A2A clients use (`maxTokens`) or
    ours (`max_tokens`), through the one strict validator REST and specs use too."""
    if isinstance(raw, dict):
        raw = {snake_case(str(key)): value for key, value in raw.items()}
    try:
        return parse_overrides(raw)
    except ValueError as exc:
        raise InvalidParamsError(message=str(exc)) from None


def snake_case(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def refuse_files(params: SendMessageRequest) -> None:
    """Text and data parts are read; a file (bytes or a URL) would be dropped unread, so it
    is refused as a content type this agent does not take."""
    for index, part in enumerate(params.message.parts):
        if part.WhichOneof("content") in ("raw", "url"):
            kind = part.media_type or "no media type"
            raise ContentTypeNotSupportedError(
                message=f"message.parts[{index}] is a file ({kind}); this agent reads "
                "text/plain and application/json parts only"
            )


def refuse_nul(params: SendMessageRequest) -> None:
    """A NUL character cannot be stored: say where one is, before anything is stored."""
    places = [(f"message.parts[{i}]", part) for i, part in enumerate(params.message.parts)]
    places += [("metadata", params.metadata), ("message.metadata", params.message.metadata)]
    for name, value in places:
        if has_nul(MessageToDict(value)):
            raise InvalidParamsError(
                message=f"{name} holds a NUL character (U+0000), which cannot be stored"
            )


def has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _optional_str(value: Any, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise InvalidParamsError(message=f"`{name}` must be a string")
