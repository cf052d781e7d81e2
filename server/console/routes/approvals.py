"""/console/approvals: every request waiting for a person, and the answers that fit its
kind: approve / reject with a comment / edit the arguments (with a diff) for an approval;
done / retry / skip for "did this call take effect?". The decision goes through the same
checks and service call as POST /tasks/{id}/approval; decided_by is the token's name."""

from __future__ import annotations

import difflib
import json
from typing import Annotated, Any

from fastapi import Form, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import escape
from pydantic import ValidationError

from graphs.approval import ACTIONS_BY_KIND, ApprovalDecision, check_decision_fits
from server.api.deps import ServicesDep, TaskIdPath
from server.console.away import waiting_requests
from server.console.pages import pretty, render
from server.console.routes.common import back_to, console_router
from server.console.session import PostingUserDep, UserDep
from stack.errors import ConfigError, Conflict

router = console_router()
MAX_ARGS_CHARS = 100_000


@router.get("/approvals")
async def inbox(
    request: Request, user: UserDep, services: ServicesDep, notice: str | None = None
) -> Response:
    waiting = await waiting_requests(services, user.tenant)
    return render(request, "approvals.html", user, waiting=waiting, actions=ACTIONS_BY_KIND,
                  notice=notice)


def parse_args(text: str) -> dict[str, Any]:
    try:
        args = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"args: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(args, dict):
        raise ConfigError("args: the tool's arguments are a JSON object ({...})")
    return args


def args_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    return "\n".join(difflib.unified_diff(
        pretty(old).splitlines(), pretty(new).splitlines(), "proposed", "edited", lineterm="",
    )) or "(no change)"


@router.post("/approvals/{task_id}/diff")
async def preview_diff(
    task_id: TaskIdPath, user: PostingUserDep, services: ServicesDep,
    args: Annotated[str, Form(max_length=MAX_ARGS_CHARS)] = "",
) -> Response:
    """The edit's diff against the proposed arguments (an htmx fragment)."""
    request = (await services.tasks.get(user.tenant, task_id)).approval or {}
    try:
        text = args_diff(request.get("args") or {}, parse_args(args))
    except ConfigError as exc:
        text = str(exc)
    return HTMLResponse(f"<pre class='diff'>{escape(text)}</pre>")


@router.post("/approvals/{task_id}")
async def decide(
    task_id: TaskIdPath,
    user: PostingUserDep,
    services: ServicesDep,
    action: Annotated[str, Form()],
    comment: Annotated[str | None, Form(max_length=4000)] = None,
    args: Annotated[str | None, Form(max_length=MAX_ARGS_CHARS)] = None,
    back: Annotated[str | None, Form()] = None,
) -> Response:
    user.require("approver")
    try:
        decision = ApprovalDecision(
            action=action,  # type: ignore[arg-type]
            args=parse_args(args) if action == "edit" else None,
            comment=(comment or "").strip() or None,
            decided_by=user.name,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'decision'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(problems) from None
    pending = (await services.tasks.get(user.tenant, task_id)).approval
    if pending is not None:
        try:
            check_decision_fits(pending, decision)
        except ValueError as exc:
            raise Conflict(f"task {task_id}: {exc}") from None
    await services.tasks.decide(user.tenant, task_id, decision)
    target = f"/console/tasks/{task_id}" if back == "task" else "/console/approvals"
    return back_to(target, f"{action} recorded for task {task_id[:8]} by {user.name}.")
