"""The loop detector: one incremental object, the same online (the entropy monitor keeps
its state in the graph's loop state) and offline (evaluators replay a trace through it).

`observe` turns each observation into an entry, judged against everything seen so far
(fingerprints are kept for the whole run, across resets), and runs the rules. A reset
keeps the fingerprints and remembers what looped, so a loop that resumes after a reset
is caught at its first repeat (`resumed_loop`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from graphs.loops import rules
from graphs.loops.detection import Detection
from graphs.loops.normalise import (
    canonical_args,
    digest,
    error_class,
    numbers_of,
    result_text,
    squash,
    within_jitter,
)
from graphs.loops.record import Entry, Observation, Status
from graphs.spec import EntropyConfig

WINDOW = 48  # recent entries kept; fingerprints are kept longer
SEEN = 512  # fingerprints kept per kind (the oldest go first)
_LABEL = 90
_NUMBERS = 64  # numbers kept per reference result; a longer result is never jitter-equal


@dataclass
class LoopDetector:
    config: EntropyConfig
    embed: rules.Embed | None = None
    entries: list[Entry] = field(default_factory=list)
    seen_info: dict[str, int] = field(default_factory=dict)  # fingerprint -> first turn
    seen_calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, list[int]] = field(default_factory=dict)  # tool|class -> [count, since]
    references: dict[str, list[Any]] = field(default_factory=dict)  # call -> result, numbers
    turn: int = 0
    last_progress: int = 0
    looped: list[str] = field(default_factory=list)  # keys of the last loop caught
    resumable: bool = False  # a reset came after that loop
    detections: int = 0

    # -- state --------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "entries": [e.to_json() for e in self.entries],
            "seen_info": self.seen_info,
            "seen_calls": self.seen_calls,
            "errors": self.errors,
            "references": self.references,
            "turn": self.turn,
            "last_progress": self.last_progress,
            "looped": self.looped,
            "resumable": self.resumable,
            "detections": self.detections,
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any] | None, config: EntropyConfig, embed: rules.Embed | None = None
    ) -> LoopDetector:
        detector = cls(config=config, embed=embed)
        if state:
            detector.entries = [Entry.from_json(e) for e in state.get("entries", [])]
            for name in ("seen_info", "seen_calls", "errors", "references", "looped"):
                setattr(detector, name, state.get(name) or type(getattr(detector, name))())
            for name in ("turn", "last_progress", "detections"):
                setattr(detector, name, int(state.get(name, 0)))
            detector.resumable = bool(state.get("resumable", False))
        return detector

    # -- observing ----------------------------------------------------------------------

    def observe_all(self, observations: Iterable[Observation]) -> list[Detection]:
        return [d for o in observations if (d := self.observe(o)) is not None]

    def observe(self, observation: Observation) -> Detection | None:
        if observation.kind == "reset":
            self._append(Entry(turn=self.turn, kind="reset", status="mark", label="reset"))
            self.resumable = bool(self.looped)
            return None
        if observation.kind == "step":
            self._step(observation)
            return None
        entry = self._entry(observation)
        self.turn += 1
        self._append(entry)
        self._remember(entry)
        if not self.config.enabled:
            return None
        found = self._detect(entry)
        if found is not None:
            self.detections += 1
            # the loop is everything since the last progress: any of it, after a reset, resumes it
            stale = [e.key for e in self.entries
                     if e.turn >= self.last_progress and e.turn_like and not e.progress]
            self.looped = sorted({*found.keys, *stale})
            self.resumable = False
        return found

    def _append(self, entry: Entry) -> None:
        self.entries.append(entry)
        del self.entries[:-WINDOW]
        keep = self.config.semantic_window + 2  # older thoughts are no longer compared
        for old in self.entries[:-keep]:
            old.thought = ""

    def _step(self, observation: Observation) -> None:
        label = f"step {observation.tool} completed" if observation.tool else "step completed"
        self._append(Entry(turn=self.turn, kind="step", status="mark", label=label))
        self.last_progress = self.turn
        self.errors.clear()
        self.looped, self.resumable = [], False

    def _entry(self, o: Observation) -> Entry:
        turn = self.turn + 1
        if o.kind == "plan":
            text = " | ".join(squash(s).lower() for s in o.plan)
            fp = "p:" + digest(text)
            status: Status = "new" if fp not in self.seen_info else "stale"
            return Entry(turn=turn, kind="plan", status=status, call="plan", info=fp,
                         label=f"plan [{text[:_LABEL]}]")
        if o.kind == "text":
            fp = "t:" + digest(result_text(o.result))
            status = "text" if fp not in self.seen_info else "stale"
            return Entry(turn=turn, kind="text", status=status, call=fp, info=fp,
                         label=f"answer {squash(o.result)[:_LABEL]!r}", thought=o.thought)
        return self._call_entry(turn, o)

    def _call_entry(self, turn: int, o: Observation) -> Entry:
        args = canonical_args(o.tool, o.args, self.config.noop_args)
        call = "c:" + digest(f"{o.tool}\n{args}")
        label = f"{o.tool}({args[:_LABEL]})" if args != "{}" else f"{o.tool}()"
        shown = result_text(o.result)
        if o.error:
            error = error_class(o.result)
            info = "e:" + digest(f"{o.tool}\n{error}")
        else:
            error, info = "", self._result_info(call, shown)
        entry = Entry(turn=turn, kind="call", status="stale", call=call, info=info,
                      tool=o.tool, label=label, error=error, thought=o.thought)
        entry.status = self._status(entry, len(shown))
        return entry

    def _result_info(self, call: str, shown: str) -> str:
        """The result's fingerprint; a result that differs from this call's reference
        result only by measurement jitter gets the reference's (it says nothing new)."""
        skeleton, numbers = numbers_of(shown)
        skeleton = digest(skeleton)
        reference = self.references.get(call)
        if reference and reference[0] == skeleton and within_jitter(
            numbers, reference[2], self.config.jitter
        ):
            return reference[1]
        info = "r:" + digest(shown)
        self.references[call] = [skeleton, info, numbers[:_NUMBERS]]
        if len(self.references) > SEEN:
            self.references.pop(next(iter(self.references)))
        return info

    def _status(self, entry: Entry, result_chars: int) -> Status:
        if rules.is_wait_tool(entry.tool, self.config):
            return "wait"
        if entry.info not in self.seen_info:
            return "new"
        if entry.call in self.seen_calls and self._waited_since(entry.call):
            return "poll"
        new_call = entry.call not in self.seen_calls and not entry.error
        if new_call and result_chars <= self.config.ack_chars:
            return "act"  # a new action, acknowledged: "ok", "written"
        return "stale"

    def _waited_since(self, call: str) -> bool:
        for entry in reversed(self.entries):
            if entry.call == call:
                return False
            if entry.status == "wait":
                return True
        return False

    def _remember(self, entry: Entry) -> None:
        for seen, key in ((self.seen_info, entry.info), (self.seen_calls, entry.call)):
            seen.setdefault(key, entry.turn)
            if len(seen) > SEEN:
                seen.pop(next(iter(seen)))
        if entry.progress:
            self.last_progress = entry.turn
        if entry.kind != "call":
            return
        if entry.error:
            count = self.errors.setdefault(f"{entry.tool}|{entry.error}", [0, entry.turn])
            count[0] += 1
        else:  # a success of the tool clears its errors
            for key in [k for k in self.errors if k.split("|", 1)[0] == entry.tool]:
                del self.errors[key]

    # -- rules --------------------------------------------------------------------------

    def _detect(self, now: Entry) -> Detection | None:
        config, entries, since = self.config, self.entries, self.last_progress
        if self.resumable and now.key in self.looped and not now.progress:
            return rules.Detection(
                rule="resumed_loop",
                what=f"{now.label} again after a reset, as in the loop caught before",
                since_turn=self.seen_info.get(now.info, now.turn),
                turn=now.turn,
                evidence=[f"turn {now.turn}: {now.label}"],
                keys=self.looped,
            )
        error = self.errors.get(f"{now.tool}|{now.error}") if now.error else None
        return (
            (error and rules.repeated_error(now, error[0], error[1], config))
            or rules.repeated_call(entries, now, since, config)
            or rules.identical_replan(entries, now, since, config)
            or rules.cycle(entries, now, config)
            or rules.no_new_information(entries, now, config)
            or rules.polling_budget(entries, now, config)
            or rules.semantic_stagnation(entries, now, config, self.embed)
        )


def scan(
    observations: Iterable[Observation],
    config: EntropyConfig,
    embed: rules.Embed | None = None,
) -> tuple[list[Detection], LoopDetector]:
    """Replay a whole trajectory: every detection, and the detector as it ended."""
    detector = LoopDetector(config=config, embed=embed)
    return detector.observe_all(observations), detector
