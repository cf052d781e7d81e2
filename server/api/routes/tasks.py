"""/tasks: submit, list, look at, cancel and answer the approvals of the caller's tenant's
tasks. Another tenant's task is a 404, exactly like a task that does not exist."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from server.api.deps import (
    REVOKED,
    ApproverDep,
    PrincipalDep,
    RecheckedSubmitterDep,
    ServicesDep,
    SubmitterDep,
    TaskIdPath,
    token_cache,
    unauthorized,
)
from server.api.schemas.approvals import ApprovalIn
from server.api.schemas.errors import INVALID, NO_TOKEN, error_responses
from server.api.schemas.tasks import (
    AGENT_NAME,
    TaskAccepted,
    TaskCreate,
    TaskDetail,
    TaskList,
    TaskPublic,
    TaskStateName,
)
from stack.lifecycle import TokenInactive

router = APIRouter(
    prefix="/tasks", tags=["tasks"], responses=error_responses({401: NO_TOKEN, 422: INVALID})
)
NOT_FOUND = {404: "no such task in the caller's tenant"}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(
        {403: "the token's role may not submit", 409: "the kill switch is on"}
    ),
)
async def submit_task(
    request: Request,
    body: TaskCreate,
    submitter: RecheckedSubmitterDep,
    services: ServicesDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(
        min_length=1, max_length=255,
        description="retry safely: the same key and body again return the first task; "
                    "the key with another body is a 422",
    )] = None,
) -> TaskAccepted:
    """Queue a task: a worker runs the agent on the goal. Follow it with GET /tasks/{id} or
    its event stream."""
    try:
        row = await services.tasks.submit(
            submitter.principal.tenant,
            goal=body.goal,
            agent=body.agent,
            budgets=body.budgets.overrides() if body.budgets else None,
            idempotency_key=idempotency_key,
            token_sha256=submitter.recheck_sha256,
        )
    except TokenInactive:  # revoked or expired since this process last verified it
        assert submitter.recheck_sha256 is not None
        token_cache(request).forget(submitter.recheck_sha256)
        raise unauthorized(REVOKED) from None
    response.headers["Location"] = f"/tasks/{row.id}"
    return TaskAccepted.from_row(row)


@router.get("")
async def list_tasks(
    principal: PrincipalDep,
    services: ServicesDep,
    state: Annotated[TaskStateName | None, Query(description="only tasks in this state")] = None,
    agent: Annotated[
        str | None, Query(pattern=AGENT_NAME, description="only this agent's tasks")
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=512, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> TaskList:
    """The tenant's tasks, newest first, a page at a time."""
    rows, next_cursor = await services.tasks.list(
        principal.tenant, state=state, agent=agent, cursor=cursor, limit=limit
    )
    return TaskList(items=[TaskPublic.from_row(row) for row in rows], next_cursor=next_cursor)


@router.get("/{task_id}", responses=error_responses(NOT_FOUND))
async def get_task(
    task_id: TaskIdPath, principal: PrincipalDep, services: ServicesDep
) -> TaskDetail:
    """State, stop reason, output, usage against each budget and the pending approval."""
    return TaskDetail.from_view(await services.tasks.get(principal.tenant, task_id))


@router.post(
    "/{task_id}/cancel",
    responses=error_responses({**NOT_FOUND, 409: "the task already ended"}),
)
async def cancel_task(
    task_id: TaskIdPath, principal: SubmitterDep, services: ServicesDep
) -> TaskPublic:
    """Stop the task: at once when it is queued or waiting for an approval, at its next node
    boundary (within a second) when it runs; the returned state may still be `working`."""
    row = await services.tasks.cancel(principal.tenant, task_id, by=f"api:{principal.token_name}")
    return TaskPublic.from_row(row)


@router.post(
    "/{task_id}/approval",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(
        {
            **NOT_FOUND,
            403: "the token lacks the approver role",
            409: "the task is not waiting for a decision, is already answered, or waits for "
            "another kind of decision than the action answers",
        }
    ),
)
async def answer_approval(
    task_id: TaskIdPath, body: ApprovalIn, principal: ApproverDep, services: ServicesDep
) -> TaskPublic:
    """Answer the task's pending request, whose `kind` says which actions fit: an
    `approval` takes approve, reject (with a comment) or edit (new arguments); an
    `unknown_outcome` ("did this call take effect?") takes done (it happened; the comment is
    its result for the model), retry (run it again) or skip (it did not happen). A worker
    resumes the run with the answer."""
    decision = body.decision(decided_by=principal.token_name)
    row = await services.tasks.decide(principal.tenant, task_id, decision)
    return TaskPublic.from_row(row)
