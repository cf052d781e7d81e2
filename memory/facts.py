"""L4 shapes: a fact as asserted (FactInput), as stored and read back (Fact), the
entities it connects (Entity), and what an upsert did (FactUpsert).

Also the name rules: entities merge on (tenant, agent, name_norm, type), so how a name is
normalised decides what counts as "the same entity". Exact normalised names always merge;
nothing fuzzier does, because names like `service-a` and `service-b` embed almost alike.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Bounds that keep every graph query small (FalkorDB splices parameters into the query
# text and cannot take large ones; see memory.graph_dialect).
MAX_NAME_CHARS = 200
MAX_FACT_CHARS = 1000
MAX_SUMMARY_CHARS = 1000

UpsertOutcome = Literal["created", "reinforced"]

_SPACE = re.compile(r"\s+")
_NOT_WORD = re.compile(r"[^\w]+")
_EDGE_PUNCT = "\"'`“”‘’.,;:!?()[]{}<>"


def normalize_name(name: str) -> str:
    """Case-, width- and spacing-insensitive key: 'Billing  API' == 'billing api'."""
    text = unicodedata.normalize("NFKC", name).casefold()
    return _SPACE.sub(" ", text).strip().strip(_EDGE_PUNCT).strip()


def normalize_label(label: str) -> str:
    """Predicates and entity types as snake_case words: 'Depends On' -> 'depends_on'."""
    text = unicodedata.normalize("NFKC", label).casefold()
    return _NOT_WORD.sub("_", text).strip("_")


def _clip(text: str, limit: int) -> str:
    text = _SPACE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class EntityRef(BaseModel):
    """An entity named in a fact: display name and type."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    type: str = "entity"

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = _clip(value, MAX_NAME_CHARS)
        if not normalize_name(value):
            raise ValueError("entity name is empty after normalisation")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return normalize_label(value) or "entity"

    @property
    def name_norm(self) -> str:
        return normalize_name(self.name)

    @property
    def key(self) -> tuple[str, str]:
        return (self.name_norm, self.type)


class FactInput(BaseModel):
    """One assertion: subject -predicate-> object, with the sentence that states it.

    `exclusive` means the subject has one object for this predicate at a time (status,
    version, owner): a new object then contradicts, and invalidates, the current one.
    Non-exclusive predicates (depends_on) accumulate.
    """

    model_config = ConfigDict(frozen=True)

    subject: EntityRef
    predicate: str = Field(min_length=1)
    object: EntityRef
    fact: str = ""
    valid_at: datetime | None = None
    exclusive: bool = False
    episodes: list[str] = Field(default_factory=list)

    @field_validator("predicate")
    @classmethod
    def _predicate(cls, value: str) -> str:
        value = normalize_label(value)
        if not value:
            raise ValueError("predicate is empty after normalisation")
        return value

    @field_validator("fact")
    @classmethod
    def _fact(cls, value: str) -> str:
        return _clip(value, MAX_FACT_CHARS)


class Entity(BaseModel):
    """An entity node as read back (without its embedding). Entities inside a Fact carry
    no summary, to keep fact rows small; find_entities returns it."""

    name: str
    name_norm: str
    type: str
    summary: str = ""


class EntityHit(BaseModel):
    entity: Entity
    score: float


class Fact(BaseModel):
    """A RELATES_TO edge. valid_at/invalid_at say when it was true in the world;
    created_at/expired_at say when this graph believed it. A fact is current while
    expired_at is unset and invalid_at is unset or in the future."""

    fact_id: str
    subject: Entity
    predicate: str
    object: Entity
    fact: str = ""
    valid_at: datetime | None = None
    invalid_at: datetime | None = None
    created_at: datetime
    expired_at: datetime | None = None
    episodes: list[str] = Field(default_factory=list)
    mentions: int = 1

    def is_current(self, now: datetime) -> bool:
        return self.expired_at is None and (self.invalid_at is None or self.invalid_at > now)


class FactUpsert(BaseModel):
    """What upserting one FactInput did: which fact now carries it, whether it was new or
    an existing current fact asserted again, and which facts it invalidated."""

    fact_id: str
    outcome: UpsertOutcome
    invalidated: list[str] = Field(default_factory=list)


class Neighbourhood(BaseModel):
    """Entities within n hops of a start entity and the facts on those paths."""

    start: list[Entity]
    entities: list[Entity]
    facts: list[Fact]
