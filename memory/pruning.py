"""Which L3 episodes may be deleted, stated once.

An episode is prunable only when all of these hold: its content already lives on in L4
(consolidated), nobody ever retrieved it (access_count == 0), it was judged unimportant
(importance <= max_importance), and it is older than the cut-off. Anything else is kept,
so pruning can never lose something that was not consolidated or that proved useful.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field
from qdrant_client import models

from memory.episode import MAX_IMPORTANCE, MIN_IMPORTANCE, to_rfc3339


class PrunePolicy(BaseModel):
    """The thresholds; the defaults keep a week of everything and anything rated > 3."""

    model_config = ConfigDict(frozen=True)

    max_importance: int = Field(default=3, ge=MIN_IMPORTANCE, le=MAX_IMPORTANCE)
    min_age: timedelta = timedelta(days=7)


def prunable_filter(policy: PrunePolicy, now: datetime) -> models.Filter:
    """The Qdrant filter that selects exactly the prunable episodes in an agent's
    collection."""
    cutoff = now - policy.min_age
    return models.Filter(
        must=[
            models.FieldCondition(key="consolidated", match=models.MatchValue(value=True)),
            models.FieldCondition(key="access_count", match=models.MatchValue(value=0)),
            models.FieldCondition(key="importance", range=models.Range(lte=policy.max_importance)),
            models.FieldCondition(
                key="created_at", range=models.DatetimeRange(lt=to_rfc3339(cutoff))
            ),
        ]
    )
