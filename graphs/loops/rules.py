"""The loop signals. Each reads the recent entries (oldest first, the current one last)
and returns a `Detection` or None; none fires on a turn that brought new information.

- repeated_call: the same call with the same result `repeat_threshold` times, nothing new
  in between (cosmetic argument drift is the same call: see normalise);
- cycle: a block of (call, result) pairs, period 2..`cycle_max_period`, repeated back to back;
- repeated_error: one tool's error class `error_repeats` times, no success of it between;
- identical_replan: the same plan made again with nothing new since;
- no_new_information: `stale_limit` turns in a row, over different calls (different tools
  returning the same information), that brought nothing new;
- polling_budget: the same call with a changing result (polling is progress) more than
  `poll_budget` times while nothing else progressed;
- semantic_stagnation: the last `semantic_window` thoughts alike (cosine >=
  `semantic_threshold`) while no call, plan or step brought anything new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase
from itertools import combinations

import numpy as np

from graphs.loops.detection import Detection
from graphs.loops.record import Entry
from graphs.spec import EntropyConfig

Embed = Callable[[list[str]], np.ndarray]  # texts -> L2-normalised vectors, one row each
_EVIDENCE = 6


def is_wait_tool(tool: str, config: EntropyConfig) -> bool:
    name = tool.rsplit(".", 1)[-1].lower()
    return any(fnmatchcase(name, pattern) for pattern in config.wait_tools)


def _evidence(entries: Sequence[Entry]) -> list[str]:
    shown = [f"turn {e.turn}: {e.label}" for e in entries[-_EVIDENCE:]]
    hidden = len(entries) - len(shown)
    return [f"... {hidden} earlier", *shown] if hidden > 0 else shown


def _found(rule: str, what: str, span: Sequence[Entry], now: Entry, **details) -> Detection:
    return Detection(
        rule=rule,
        what=what,
        since_turn=span[0].turn,
        turn=now.turn,
        evidence=_evidence(span),
        keys=sorted({e.key for e in span}),
        details=details,
    )


def since_progress(entries: Sequence[Entry], last_progress: int) -> list[Entry]:
    """The entries from the last one that brought progress (inclusive) to now."""
    return [e for e in entries if e.turn >= last_progress and e.kind != "reset"]


def since_reset(entries: Sequence[Entry]) -> list[Entry]:
    """The entries after the last reset, without new answers in between calls: a sequence
    rule gives the new start its chance (fingerprints, and the rules that count them, still
    span resets), and an answer the critic sent back does not break a cycle of calls."""
    start = max((i + 1 for i, e in enumerate(entries) if e.kind == "reset"), default=0)
    return [e for e in entries[start:] if e.status != "text"]


def repeated_call(entries, now, last_progress, config) -> Detection | None:
    if now.status != "stale" or now.kind not in ("call", "text"):
        return None
    same = [e for e in since_progress(entries, last_progress) if e.key == now.key]
    if len(same) < config.repeat_threshold:
        return None
    what = f"{now.label} x{len(same)}, the same result each time"
    return _found("repeated_call", what, same, now, repeats=len(same))


def cycle(entries, now, config) -> Detection | None:
    seq = since_reset(entries)
    for period in range(2, config.cycle_max_period + 1):
        matched = max(2, (config.cycle_repeats - 1) * period)
        if len(seq) < matched + period:
            continue
        tail = seq[-matched:]
        if any(e.status != "stale" for e in tail):
            continue  # new information, polls after a wait, steps: not a cycle
        if any(seq[-1 - j].key != seq[-1 - j - period].key for j in range(matched)):
            continue
        block = seq[-period:]
        if len({e.call for e in block}) < 2:
            continue  # one call over and over: repeated_call's case
        span = seq[-matched - period :]
        what = " > ".join(e.label for e in block) + f" repeated (period {period})"
        return _found("cycle", what, span, now, period=period)
    return None


def repeated_error(now: Entry, count: int, first_turn: int, config) -> Detection | None:
    if not now.error or count < config.error_repeats:
        return None
    what = f"{now.tool} failed {count} times with {now.error!r}, no success in between"
    found = Detection(
        rule="repeated_error",
        what=what,
        since_turn=first_turn,
        turn=now.turn,
        evidence=[f"turn {now.turn}: {now.label}"],
        keys=[now.key],
        details={"error_class": now.error, "repeats": count},
    )
    return found


def identical_replan(entries, now, last_progress, config) -> Detection | None:
    if now.kind != "plan" or now.status != "stale":
        return None
    # the replan a reset forces gets its chance: only plans since the last reset count
    recent = {id(e) for e in since_reset(entries)}
    same = [e for e in since_progress(entries, last_progress)
            if e.key == now.key and id(e) in recent]
    if len(same) < config.replan_repeats:
        return None
    return _found("identical_replan", f"the same plan again ({now.label})", same, now)


def no_new_information(entries, now, config) -> Detection | None:
    limit = config.stale_limit
    seq = since_reset(entries)[-limit:]
    if len(seq) < limit or any(e.status != "stale" for e in seq):
        return None
    if len({e.call for e in seq}) < 2:
        return None  # one call over and over: repeated_call's case
    what = f"{limit} turns over {len({e.tool or e.kind for e in seq})} tool(s) with nothing new"
    return _found("no_new_information", what, seq, now)


def polling_budget(entries, now, config) -> Detection | None:
    if now.kind != "call":
        return None
    polls: list[Entry] = []
    for entry in reversed(entries):
        if entry.kind == "step" or (entry.progress and entry.call != now.call):
            break
        if entry.call == now.call:
            polls.append(entry)
    if len(polls) <= config.poll_budget:
        return None
    polls.reverse()
    what = f"{now.label} polled {len(polls)} times (budget {config.poll_budget}), nothing else new"
    return _found("polling_budget", what, polls, now, polls=len(polls))


def semantic_stagnation(entries, now, config, embed: Embed | None) -> Detection | None:
    if embed is None or not config.semantic or not now.thought:
        return None
    window: list[Entry] = []
    for entry in reversed(entries):
        if entry.thought:
            window.append(entry)
            if len(window) == config.semantic_window:
                break
    if len(window) < config.semantic_window:
        return None
    window.reverse()
    first = window[0].turn
    moved = [
        e for e in entries
        if e.turn > first and ((e.kind in ("call", "plan", "step") and e.progress)
                               or e.status in ("poll", "wait"))
    ]
    if moved:
        return None  # alike thoughts over new information, or polling (it has its budget)
    vectors = embed([e.thought for e in window])
    pairs = [float(vectors[i] @ vectors[j]) for i, j in combinations(range(len(window)), 2)]
    # Rewordings vary (MiniLM puts real ones anywhere from 0.65 to 0.95): the mean decides;
    # the gate above (nothing new for the whole window) keeps healthy runs far from it.
    mean = sum(pairs) / len(pairs)
    if mean < config.semantic_threshold:
        return None
    what = f"last {len(window)} thoughts alike (mean cosine {mean:.2f}) with nothing new"
    return _found("semantic_stagnation", what, window, now,
                  similarity=round(mean, 3), lowest=round(min(pairs), 3))
