"""The kill switches: what an admin sends and what a tenant may read.

A tenant's admin flips its tenant's switch; an installation admin flips the global one
(`scope: "installation"`). Reading shows the global switch's state (not who flipped it,
which names another tenant's people) and the caller's tenant's switch in full.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from server.runtime.killswitch import KillSwitchState


class KillSwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool = Field(description="true stops the work and its scheduling; false resumes")
    scope: Literal["tenant", "installation"] = Field(
        default="tenant",
        description="tenant: the caller's tenant (admin role); installation: every tenant "
        "(installation-admin role)",
    )


class SwitchPublic(BaseModel):
    on: bool
    changed_by: str | None = None
    changed_at: datetime | None = None

    @classmethod
    def from_state(cls, state: KillSwitchState, *, private: bool = False) -> SwitchPublic:
        if private:  # who flipped it belongs to whoever runs the installation
            return cls(on=state.on)
        return cls(on=state.on, changed_by=state.changed_by, changed_at=state.changed_at)


class KillSwitchPublic(BaseModel):
    on: bool = Field(description="work of the caller's tenant is stopped (either switch is on)")
    installation: SwitchPublic = Field(description="the global switch")
    tenant: SwitchPublic = Field(description="the caller's tenant's own switch")
    stopped_tasks: list[str] = Field(
        default_factory=list, description="tasks this change stopped (when turned on)"
    )
    canceled: int = Field(default=0, description="of stopped_tasks: ended canceled now")
    stopping: int = Field(
        default=0, description="of stopped_tasks: running, they stop at their next node boundary"
    )
    remaining: int = Field(
        default=0,
        description="open tasks not stopped yet: a background sweep stops them in batches "
        "(the switch refuses them meanwhile at their next claim or node boundary); read "
        "again with GET /killswitch",
    )
