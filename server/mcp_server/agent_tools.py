"""The MCP server: the caller's tenant's agents as tools (and the default agent as
`default`), each call a task run to its end.

`tools/list` lists the tenant's applied agents; `tools/call` submits a task with the
`goal` (and optional `budgets`) and follows it on the workers. When the task waits for a
person, a client that supports elicitation is asked (approve / reject with a comment; for an
unknown outcome: done / retry / skip) and the answer resumes the task — the caller needs the
approver role for that. Otherwise, or when the user declines to answer an unknown outcome,
the result says the task is waiting and how to answer it (REST or A2A). A task that fails or
is canceled is an error result; bad input (no goal, unknown budgets) too, with the reason.
A request with a progress token gets progress notifications while the task runs
(progress.py).
"""

from __future__ import annotations

import json
from importlib.metadata import version
from typing import Any

import jsonschema
import mcp.types as types
from mcp.server.lowlevel import Server

from graphs.approval import ApprovalDecision
from graphs.budgets import Budgets
from graphs.spec import default_agent_spec
from server.a2a.follow import follow
from server.mcp_server.progress import Progress
from server.services import Principal, Services, TaskView
from stack.errors import WakefulError

INSTRUCTIONS = """\
Each tool is an agent of your tenant (`default` is the general agent). Call one with a
`goal` (and optional `budgets`): the call runs a task until it ends, which can take minutes,
and returns the agent's output (structured: task_id, state, stop_reason, output). When the
task needs a person's decision on a risky action, you are asked through elicitation if your
client supports it; otherwise the result says that the task waits and how to answer it."""
SCOPE_KEY = "wakeful.principal"
DEFAULT_TOOL = "default"
UNKNOWN_OUTCOME = "unknown_outcome"
INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "goal": {"type": "string", "minLength": 1, "description": "what the agent should achieve"},
        "budgets": {
            "type": "object",
            "description": "hard limits for this task (max_iterations, max_tokens, ...)",
            "properties": {name: {"type": "number"} for name in Budgets.model_fields},
            "additionalProperties": False,
        },
    },
    "required": ["goal"],
    "additionalProperties": False,
}
# Nullable fields as anyOf branches of one type each: a type list is valid JSON Schema, but
# clients mapping schemas onto a one-type dialect (Gemini's OpenAPI subset) reject it.
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task_id": {"type": "string"},
        "state": {"type": "string"},
        "stop_reason": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "output": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "waiting_for": {"anyOf": [{"type": "object"}, {"type": "null"}]},
    },
    "required": ["task_id", "state"],
}
APPROVAL_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {"type": "string", "enum": ["approve", "reject"], "title": "Decision"},
        "comment": {"type": "string", "title": "Comment", "description": "shown to the agent"},
    },
    "required": ["action"],
}
OUTCOME_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "action": {
            "type": "string",
            "enum": ["done", "retry", "skip"],
            "title": "What happened",
            "description": "done: it happened; retry: run it again; skip: go on without it",
        },
        "comment": {"type": "string", "title": "Comment"},
    },
    "required": ["action"],
}


def build_server(services: Services) -> Server:
    server: Server = Server("wakeful", version=version("wakeful"), instructions=INSTRUCTIONS)

    async def tools_of(principal: Principal) -> list[types.Tool]:
        agents = await services.agents.list(principal.tenant)
        default = default_agent_spec()
        tools = [_tool(DEFAULT_TOOL, default.description or "the default agent", None)]
        tools += [
            _tool(a.name, str(a.spec.get("description") or a.name), a.spec.get("goal"))
            for a in agents
        ]
        return tools

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return await tools_of(_principal(server))

    # The SDK checks arguments against one tool cache for the whole server, refilled by
    # whichever session listed last: tenants' tools of the same name differ (a goal of
    # their own or not), so each call is checked against its caller's own tool here.
    @server.call_tool(validate_input=False)
    async def call_tool(name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        principal = _principal(server)
        principal.require("submitter")
        tool = next((t for t in await tools_of(principal) if t.name == name), None)
        if tool is not None:
            try:
                jsonschema.validate(instance=arguments, schema=tool.inputSchema)
            except jsonschema.ValidationError as exc:
                return _error(f"Input validation error: {exc.message}")
        try:
            row = await services.tasks.submit(
                principal.tenant,
                goal=arguments.get("goal"),
                agent=None if name == DEFAULT_TOOL else name,
                budgets=arguments.get("budgets"),
            )
            progress = Progress(server)
            async with progress.heartbeat():
                view = await _settle(services, principal, row.id, None, progress)
                while view.task.state == "input-required":
                    decision = await _ask(server, principal, view.approval)
                    if decision is None:
                        break
                    await services.tasks.decide(principal.tenant, row.id, decision)
                    view = await _settle(services, principal, row.id, view, progress)
        except WakefulError as exc:
            return _error(str(exc))
        return _result(view)

    return server


def _principal(server: Server) -> Principal:
    request = server.request_context.request
    principal = request.scope.get(SCOPE_KEY) if request is not None else None
    if not isinstance(principal, Principal):
        raise PermissionError("not authenticated")  # /mcp authenticates every request
    return principal


def _tool(name: str, description: str, own_goal: Any) -> types.Tool:
    """An agent's tool; `goal` is optional for an agent with a goal of its own (its spec's)."""
    schema = INPUT_SCHEMA
    if own_goal:
        goal = {**INPUT_SCHEMA["properties"]["goal"]}
        goal["description"] += " (default: the agent's own goal)"
        optional = {k: v for k, v in INPUT_SCHEMA.items() if k != "required"}
        schema = {**optional, "properties": {**INPUT_SCHEMA["properties"], "goal": goal}}
    return types.Tool(
        name=name,
        title=f"agent {name}",
        description=f"Run the wakeful agent {name!r} on a goal until it ends: {description}",
        inputSchema=schema,
        outputSchema=OUTPUT_SCHEMA,
    )


async def _settle(
    services: Services,
    principal: Principal,
    task_id: str,
    since: TaskView | None,
    progress: Progress,
) -> TaskView:
    """The task's view once it has ended or waits for a person (each change reported)."""
    last = since
    async for view in follow(services.tasks, principal.tenant, task_id, since=since):
        last = view
        await progress.saw(view)
    assert last is not None
    return last


async def _ask(
    server: Server, principal: Principal, request: dict[str, Any] | None
) -> ApprovalDecision | None:
    """The user's decision through elicitation, or None when it cannot (or need not) be had."""
    session = server.request_context.session
    wanted = types.ClientCapabilities(elicitation=types.ElicitationCapability())
    if (
        request is None
        or not principal.allows("approver")
        or not session.check_client_capability(wanted)
    ):
        return None
    outcome = request.get("kind") == UNKNOWN_OUTCOME
    verb = "did this happen" if outcome else "may the agent do this"
    message = f"{request.get('tool')} with {request.get('args') or {}}: {verb}?"
    if request.get("rationale"):
        message += f" ({request['rationale']})"
    answer = await session.elicit_form(
        message,
        OUTCOME_FORM if outcome else APPROVAL_FORM,
        related_request_id=server.request_context.request_id,
    )
    content = answer.content or {}
    if answer.action == "accept" and content.get("action"):
        comment = content.get("comment")
        return ApprovalDecision(
            action=str(content["action"]),  # type: ignore[arg-type]
            comment=str(comment) if comment else None,
            decided_by=f"mcp:{principal.token_name}",
        )
    if outcome:
        return None  # no answer is no knowledge of what happened: leave it to a person
    return ApprovalDecision(
        action="reject", comment="declined over MCP", decided_by=f"mcp:{principal.token_name}"
    )


def _result(view: TaskView) -> types.CallToolResult:
    task = view.task
    waiting = view.approval if task.state == "input-required" else None
    structured = {
        "task_id": task.id,
        "state": task.state,
        "stop_reason": task.stop_reason,
        "output": task.output,
        "waiting_for": waiting,
    }
    if waiting is not None:
        text = (
            f"Task {task.id} waits for a decision on {waiting.get('tool')}; answer it with "
            f"POST /tasks/{task.id}/approval (or an A2A reply), then read the task."
        )
    else:
        text = task.output or f"Task {task.id} {task.state}: {task.stop_reason or ''}".strip()
    failed = task.state in ("failed", "canceled", "rejected")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structuredContent=_jsonable(structured),
        isError=failed,
    )


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], isError=True
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
