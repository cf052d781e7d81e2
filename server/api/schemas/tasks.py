"""Task shapes: what a caller sends (TaskCreate), what it gets back (TaskPublic, TaskDetail,
TaskList). Storage shapes live in stack/task_records.py and never leave the server as-is."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from server.services import TaskView
from stack.task_records import TaskRow

TaskStateName = Literal[
    "submitted", "working", "input-required", "completed", "failed", "canceled", "rejected"
]
AGENT_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
MAX_GOAL_CHARS = 20_000


class BudgetsIn(BaseModel):
    """Hard limits for this task; each one left out comes from the agent's spec."""

    model_config = ConfigDict(extra="forbid")

    max_iterations: int | None = Field(default=None, ge=1, le=10_000, description="worker turns")
    max_runtime_seconds: float | None = Field(
        default=None, gt=0, le=7 * 24 * 3600, description="active run time"
    )
    max_tool_calls: int | None = Field(default=None, ge=0, le=100_000)
    max_tokens: int | None = Field(default=None, ge=1, le=100_000_000)
    iteration_timeout_seconds: float | None = Field(
        default=None, gt=0, le=24 * 3600, description="one model call"
    )

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


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
    """A tool call waiting for a person: answer it with POST /tasks/{id}/approval."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(default=None, description="the interrupt this approval answers")
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    tool_call_id: str | None = None
    scope: str | None = None
    policy_source: str | None = None
    rationale: str | None = None
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
