"""Agent shapes: an agent spec to apply (AgentApply: the YAML spec as JSON, plus its alert
rules), the applied agent (AgentPublic) and how it is doing (AgentStatusPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from graphs.spec import AgentSpec
from server.runtime.alerts import AlertRuleSpec
from server.runtime.status import AgentStatus
from server.services import AgentRow


class AgentApply(AgentSpec):
    """An agent spec (see agents/*.yaml) as a JSON object; applying one with an existing
    name replaces it. Inline scripted responses as `model.script` (no script files here)."""

    model_config = ConfigDict(extra="forbid")

    alerts: list[AlertRuleSpec] | None = Field(
        default=None, description="alert rules; the default rules when left out"
    )

    def as_spec(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class AgentPublic(BaseModel):
    name: str
    description: str = ""
    continuous: bool
    interval_seconds: float | None = None
    paused: bool
    current_task_id: str | None = Field(default=None, description="the running iteration")
    next_run_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    spec: dict[str, Any]

    @classmethod
    def from_row(cls, row: AgentRow) -> AgentPublic:
        return cls(
            name=row.name,
            description=str(row.spec.get("description") or ""),
            continuous=row.continuous,
            interval_seconds=row.interval_seconds,
            paused=row.paused,
            current_task_id=row.current_task_id,
            next_run_at=row.next_run_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            spec=row.spec,
        )


class AgentStatusPublic(BaseModel):
    name: str
    state: Literal["active", "paused"]
    continuous: bool
    interval_seconds: float | None = None
    running_task_id: str | None = None
    last_started_at: datetime | None = None
    last_completed_at: datetime | None = None
    last_succeeded_at: datetime | None = None
    last_outcome: str | None = Field(default=None, description="how the last iteration ended")
    consecutive_failures: int
    next_run_at: datetime | None = None
    queue_depth: int = Field(description="this agent's tasks waiting for a worker")
    tokens_today: int
    daily_token_budget: int | None = None
    open_alerts: int
    killswitch: bool = Field(description="the global kill switch is on: nothing is scheduled")

    @classmethod
    def from_status(cls, status: AgentStatus) -> AgentStatusPublic:
        return cls.model_validate(status, from_attributes=True)
