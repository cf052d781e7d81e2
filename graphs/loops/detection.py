"""A loop found: which rule, what repeated, since when, and the evidence."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Detection:
    rule: str  # repeated_call, cycle, repeated_error, no_new_information, ...
    what: str  # what repeated, for people
    since_turn: int  # the turn the repetition began
    turn: int  # the turn it was caught at
    evidence: list[str] = field(default_factory=list)  # the turns that show it
    keys: list[str] = field(default_factory=list)  # their fingerprints: caught again at once
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def signal(self) -> str:
        return f"{self.rule}: {self.what} (since turn {self.since_turn})"

    def to_event(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "rule": self.rule,
            "what": self.what,
            "since_turn": self.since_turn,
            "turn": self.turn,
            "evidence": self.evidence,
            **self.details,
        }
