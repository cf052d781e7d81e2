"""A fired alert and how its webhook deliveries went."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from server.services import AlertRow


class AlertPublic(BaseModel):
    id: int
    agent: str
    kind: str
    message: str
    data: dict[str, Any]
    fired_at: datetime
    resolved_at: datetime | None = None
    deliveries: list[dict[str, Any]]

    @classmethod
    def from_row(cls, row: AlertRow) -> AlertPublic:
        return cls.model_validate(row, from_attributes=True)
