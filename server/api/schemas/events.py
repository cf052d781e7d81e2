"""One entry of a task's activity log, as sent over the event stream."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from stack.task_records import EventRow


class EventPublic(BaseModel):
    seq: int
    ts: datetime
    type: str
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: EventRow) -> EventPublic:
        return cls(seq=row.seq, ts=row.ts, type=row.type, data=row.data)
