"""L3 episode shapes: what callers write (NewEpisode), what is stored (Episode), what a
search returns (ScoredEpisode), and what a write did (WriteResult).

Input, storage and output shapes are kept apart so that fields the store owns (hashes,
timestamps, counters, provenance) can never be set by a caller.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

EpisodeKind = Literal["iteration_outcome", "evicted_window", "tool_result"]
WriteOutcome = Literal["created", "duplicate", "merged"]

MIN_IMPORTANCE = 1
MAX_IMPORTANCE = 10


def content_hash(text: str) -> str:
    """sha256 of the text as stored: NFC-normalised and stripped.

    Normalising first means the same words typed twice (a trailing newline, a composed
    vs decomposed accent) count as identical content, which is what dedup is for.
    """
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()


def normalize_text(text: str) -> str:
    return unicodedata.normalize("NFC", text).strip()


class NewEpisode(BaseModel):
    """One thing that happened, as a caller reports it."""

    model_config = ConfigDict(frozen=True)

    tenant: str = Field(min_length=1)
    agent: str = Field(min_length=1)
    task: str | None = None
    kind: EpisodeKind = "iteration_outcome"
    text: str = Field(min_length=1)
    importance: int = Field(default=5, ge=MIN_IMPORTANCE, le=MAX_IMPORTANCE)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        value = normalize_text(value)
        if not value:
            raise ValueError("episode text is blank; there is nothing to remember")
        return value


class Episode(BaseModel):
    """An episode as stored: one Qdrant point, its payload mirrored field by field."""

    id: str
    tenant: str
    agent: str
    task: str | None = None
    kind: EpisodeKind
    text: str
    sha256: str
    created_at: datetime
    last_accessed_at: datetime
    access_count: int = 0
    importance: int
    consolidated: bool = False
    # Near-duplicates folded into this point: how many, and their hashes, so writing one
    # of them again is recognised as a duplicate rather than merged a second time.
    merge_count: int = 0
    merged_sha256: list[str] = Field(default_factory=list)
    # Provenance the other way round: the L4 facts this episode was consolidated into.
    fact_ids: list[str] = Field(default_factory=list)

    @classmethod
    def from_payload(cls, point_id: Any, payload: dict[str, Any]) -> Episode:
        return cls.model_validate({**payload, "id": str(point_id)})

    def to_payload(self) -> dict[str, Any]:
        """The Qdrant payload; datetimes as RFC 3339 strings, which Qdrant indexes and
        formula queries (datetime_key) understand."""
        payload = self.model_dump(mode="json", exclude={"id"})
        payload["created_at"] = to_rfc3339(self.created_at)
        payload["last_accessed_at"] = to_rfc3339(self.last_accessed_at)
        return payload


class ScoredEpisode(BaseModel):
    """A retrieved episode with its combined score and the cosine relevance behind it."""

    episode: Episode
    score: float
    relevance: float


class WriteResult(BaseModel):
    """What a write did: a new point, nothing (identical content), or a merge into
    `episode_id`, the point that now carries the content."""

    outcome: WriteOutcome
    episode_id: str


class UnconsolidatedStats(BaseModel):
    """The consolidation backlog of one agent, for the dreamer's trigger."""

    count: int
    importance_sum: int
    oldest_created_at: datetime | None = None


def to_rfc3339(moment: datetime) -> str:
    """Always with microseconds and offset, so every stored string parses the same way."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: memory timestamps must be timezone-aware (UTC)")
    return moment.isoformat(timespec="microseconds")
