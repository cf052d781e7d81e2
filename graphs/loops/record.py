"""The compact trajectory record the loop detector reads: one entry per turn.

An `Observation` is what happened, as the graph or a trace tells it: a tool call with
its result, an answer without a call, a plan, a completed step, a reset. An `Entry` is
its compact form: canonical call key, what came back (as a fingerprint), the error
class, the thought, and how it stands against everything seen before (`status`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Kind = Literal["call", "text", "plan", "step", "reset"]
# new: information not seen before; act: a new action, acknowledged; poll: a repeated call
# after the agent waited; wait: time let pass; text: an answer (judged by the critic, not
# here); stale: nothing new; mark: a completed step or a reset.
Status = Literal["new", "act", "poll", "wait", "text", "stale", "mark"]
PROGRESS: frozenset[str] = frozenset({"new", "act"})
_THOUGHT_CHARS = 500


@dataclass(frozen=True)
class Observation:
    kind: Kind
    tool: str = ""
    args: Any = None
    result: str = ""
    error: bool = False
    thought: str = ""
    plan: tuple[str, ...] = ()

    @classmethod
    def call(
        cls, tool: str, args: Any, result: str, *, error: bool = False, thought: str = ""
    ) -> Observation:
        return cls("call", tool=tool, args=args, result=str(result), error=error,
                   thought=thought.strip()[:_THOUGHT_CHARS])

    @classmethod
    def text(cls, text: str) -> Observation:
        return cls("text", result=text, thought=text.strip()[:_THOUGHT_CHARS])

    @classmethod
    def plan_of(cls, steps: list[str] | tuple[str, ...]) -> Observation:
        return cls("plan", plan=tuple(steps))

    @classmethod
    def step(cls, step_id: str = "") -> Observation:
        return cls("step", tool=step_id)

    @classmethod
    def reset(cls) -> Observation:
        return cls("reset")


@dataclass
class Entry:
    turn: int
    kind: Kind
    status: Status
    call: str = ""  # the call's key: tool + canonical arguments (the text or plan otherwise)
    info: str = ""  # what came back: result, error class, text or plan, as a fingerprint
    tool: str = ""
    label: str = ""  # for people: tool(arguments), or the start of the text or plan
    error: str = ""  # the normalised error class, when the call failed
    thought: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.call}>{self.info}"

    @property
    def progress(self) -> bool:
        return self.status in PROGRESS or (self.kind == "step")

    @property
    def turn_like(self) -> bool:
        return self.kind in ("call", "text", "plan")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: v for k, v in data.items() if v not in ("", {}, None)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        return cls(**data)
