"""Task shapes: what a caller sends (TaskCreate), what it gets back (TaskPublic, TaskDetail,
TaskList). Storage shapes live in stack/task_records.py and never leave the server as-is."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphs.budgets import BudgetOverrides
from server.services import TaskView
from stack.task_records import TaskRow

TaskStateName = Literal[
    "submitted", "working", "input-required", "completed", "failed", "canceled", "rejected"
]
AGENT_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
MAX_GOAL_CHARS = 20_000


class BudgetsIn(BudgetOverrides):
    """Hard limits for this task; each one left out comes from the agent's spec. Numbers are
    strict (the same validator as A2A and agent specs): `true` or `"5"` is not a number."""


class TaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    goal: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_GOAL_CHARS,
        description="what to achieve; the agent's own goal when left out",
    )
    agent: str | None = Field(
        default=None,
        pattern=AGENT_NAME,
        description="an applied agent's name; the default agent when left out",
    )
    budgets: BudgetsIn | None = None

    @field_validator("goal")
    @classmethod
    def _goal_has_text(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("the goal is blank")
        return value


class TaskPublic(BaseModel):
    id: str
    agent: str
    goal: str
    state: TaskStateName
    stop_reason: str | None = None
    budgets: dict[str, Any]
    usage: dict[str, Any]
    output: str | None = None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @classmethod
    def from_row(cls, row: TaskRow) -> TaskPublic:
        return cls(
            id=row.id,
            agent=row.agent,
            goal=row.goal,
            state=row.state,  # type: ignore[arg-type]
            stop_reason=row.stop_reason,
            budgets=row.budgets,
            usage=row.usage,
            output=row.output,
            created_at=row.created_at,
            updated_at=row.updated_at,
            started_at=row.started_at,
            ended_at=row.ended_at,
        )


class BudgetUse(BaseModel):
    budget: str = Field(description="the budget's name, e.g. max_tokens")
    used: float
    limit: float
    fraction: float = Field(description="used / limit (0 when the limit is 0)")


class PendingApproval(BaseModel):
    """What the task waits for: answer it with POST /tasks/{id}/approval. `kind` says which
    answers fit: `approval` (may this call run? approve / reject / edit) or
    `unknown_outcome` (did this call take effect? done / retry / skip)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, description="the interrupt this request is")
    kind: Literal["approval", "unknown_outcome"] = "approval"
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    tool_call_id: str | None = None
    scope: str | None = None
    answers: list[str] = Field(default_factory=list, description="the actions that fit")
    reason: str | None = Field(
        default=None,
        description="approval: policy; unknown_outcome: timeout, connection_lost, canceled, "
        "crashed (found started but unfinished on resume) or repeat_of_unknown_outcome",
    )
    policy_source: str | None = None
    rationale: str | None = None
    started_at: datetime | None = Field(
        default=None, description="unknown_outcome: when the call (or the one it repeats) began"
    )
    detail: str | None = Field(default=None, description="unknown_outcome: what was seen")
    repeat_of: str | None = Field(
        default=None, description="unknown_outcome: the earlier call with the same arguments"
    )
    question: str | None = None
    step: str | None = None


class TaskDetail(TaskPublic):
    budget_use: list[BudgetUse] = Field(
        default_factory=list, description="usage against each budget"
    )
    pending_approval: PendingApproval | None = None

    @classmethod
    def from_view(cls, view: TaskView) -> TaskDetail:
        return cls(
            **TaskPublic.from_row(view.task).model_dump(),
            budget_use=[
                BudgetUse(
                    budget=use.budget,
                    used=use.used,
                    limit=use.limit,
                    fraction=use.used / use.limit if use.limit else 0.0,
                )
                for use in view.budgets
            ],
            pending_approval=(
                PendingApproval.model_validate(view.approval) if view.approval else None
            ),
        )


class TaskList(BaseModel):
    items: list[TaskPublic]
    next_cursor: str | None = Field(
        default=None, description="pass as `cursor` for the next page; null on the last page"
    )


class TaskAccepted(TaskPublic):
    """The new task, queued; follow it at `links`."""

    links: dict[str, str]

    @classmethod
    def from_row(cls, row: TaskRow) -> TaskAccepted:
        base = f"/tasks/{row.id}"
        return cls(
            **TaskPublic.from_row(row).model_dump(),
            links={
                "self": base,
                "events": f"{base}/events",
                "cancel": f"{base}/cancel",
                "approval": f"{base}/approval",
            },
        )
