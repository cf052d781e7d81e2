"""The global kill switch: what an admin sends and what anyone may read."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from server.runtime.killswitch import KillSwitchState


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool = Field(description="true stops every task and all scheduling; false resumes")


class KillSwitchPublic(BaseModel):
    on: bool
    changed_by: str | None = None
    changed_at: datetime | None = None
    stopped_tasks: list[str] = Field(
        default_factory=list, description="tasks this change stopped (when turned on)"
    )

    @classmethod
    def from_state(
        cls, state: KillSwitchState, stopped: list[str] | None = None
    ) -> KillSwitchPublic:
        return cls(
            on=state.on,
            changed_by=state.changed_by,
            changed_at=state.changed_at,
            stopped_tasks=stopped or [],
        )
