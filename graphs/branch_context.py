"""What a node running inside a branch (one plan step of a fan-out) sees differently.

- Its events carry `branch` (the step id) and are keyed under the branch, on the run's one
  channel: the branch's own node-run scope, so a resumed branch records nothing twice.
- Its usage is the task's: the branch's own spend plus what its sibling branches have
  spent so far (`BranchSpend`, shared by the branches of one run), so every budget is
  checked against the task as a whole; the branch's state keeps only its own spend, and
  the join adds the branches' spends up once (graphs/branches.py).

Only counters that budgets limit are shared between siblings (iterations, tool calls,
tokens); active seconds are not (branches run at the same time: a fan-out costs the task
the time of its longest branch), nor the per-role call counts.

The per-role call counts are also the scripted model's replay cursor, which must not
depend on how the branches interleave: in a fan-out of `width` branches, branch `index`
(plan order) replays its k-th call of a scripted role from response base + k·width + index
(the branches' calls in rounds, in plan order), and the join moves the cursor past the
fan-out's last round (`striped_cursor`). A scripted re-ask (an unreadable reply) inside a
branch takes the next response, as elsewhere, which is the next branch's slot.
"""

from __future__ import annotations

from typing import Any

from graphs.script import ROLES
from graphs.scripted_model import ScriptedChatModel

SHARED = ("iterations", "tool_calls", "tokens")
SPEND_KEY = "branch_spend"


def usage_plus(usage: dict[str, Any], other: dict[str, Any], sign: int = 1) -> dict[str, Any]:
    """`usage` with `other`'s numbers added (sign -1: taken away), nested dicts too;
    `started_at` stays `usage`'s."""
    out = dict(usage)
    for key, value in other.items():
        if key == "started_at":
            continue
        mine = out.get(key)
        if isinstance(value, dict):
            out[key] = usage_plus(mine if isinstance(mine, dict) else {}, value, sign)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = (mine if isinstance(mine, int | float) else 0) + sign * value
    return out


def spent_since(usage: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """What was spent between `base` and `usage`."""
    return usage_plus(usage, base, -1)


class BranchSpend:
    """The spend of each branch of each fan-out of this run, as far as this process saw it
    (after a crash, branches that had finished before it count from the join on)."""

    def __init__(self) -> None:
        self._spent: dict[str, dict[str, dict[str, Any]]] = {}

    def siblings(self, fanout: str, step: str) -> dict[str, Any]:
        total = dict.fromkeys(SHARED, 0)
        for other, spent in self._spent.get(fanout, {}).items():
            if other != step:
                for key in SHARED:
                    total[key] += spent.get(key, 0)
        return total

    def note(self, fanout: str, step: str, spent: dict[str, Any]) -> None:
        self._spent.setdefault(fanout, {})[step] = {k: spent.get(k, 0) for k in SHARED}

    def forget(self, fanout: str) -> None:
        self._spent.pop(fanout, None)


def spend_of(extras: dict[str, Any]) -> BranchSpend:
    spend = extras.get(SPEND_KEY)
    if spend is None:
        spend = extras[SPEND_KEY] = BranchSpend()
    return spend


def scripted_roles(models: Any) -> frozenset[str]:
    """The roles whose model is the scripted one (their call counts are replay cursors)."""
    roles = set()
    for role in ROLES:
        try:
            model = models[role].model
        except (KeyError, AttributeError):
            continue
        if isinstance(model, ScriptedChatModel):
            roles.add(role)
    return frozenset(roles)


def striped_cursor(base: int, calls: list[int]) -> int:
    """A scripted role's cursor after a fan-out whose branches made `calls` calls each."""
    return base + len(calls) * max(calls, default=0)


class BranchView:
    """One node run inside a branch: the usage it is shown, and how to take it back."""

    def __init__(
        self, extras: dict[str, Any], branch: dict[str, Any], scripted: frozenset[str]
    ) -> None:
        self.spend = spend_of(extras)
        self.step, self.fanout = branch["step"], branch["fanout"]
        self.base = branch["base"]
        self.index, self.width = branch.get("index", 0), branch.get("width", 1)
        self.scripted = scripted  # roles whose model is scripted
        self.shown = self.spend.siblings(self.fanout, self.step)  # siblings, at node start
        self.calls: dict[str, int] = {}  # own per-role calls at node start

    def task_usage(self, own: dict[str, Any]) -> dict[str, Any]:
        """The branch's own usage as the task's: plus the siblings' spend at node start,
        and a scripted role's cursor at this branch's next slot."""
        view = usage_plus(own, self.shown)
        self.calls = dict(own.get("model_calls") or {})
        view["model_calls"] = self._cursors()
        return view

    def live(self, usage: dict[str, Any]) -> dict[str, Any]:
        """A usage the node holds, brought up to the siblings' spend right now (for a budget
        check in the middle of a node)."""
        now = self.spend.siblings(self.fanout, self.step)
        return usage_plus(usage_plus(usage, self.shown, -1), now)

    def own(self, usage: dict[str, Any]) -> dict[str, Any]:
        """A usage the node returns, back to the branch's own (and noted as its spend)."""
        own = usage_plus(usage, self.shown, -1)
        shown = self._cursors()
        calls = {
            key: self.calls.get(key, 0) + count - shown.get(key, 0)
            for key, count in (usage.get("model_calls") or {}).items()
        }
        own["model_calls"] = {k: v for k, v in calls.items() if v or k in self.calls}
        self.note(own)
        return own

    def _cursors(self) -> dict[str, int]:
        """The per-role counts as a node of this branch sees them (scripted: its slots)."""
        base = self.base.get("model_calls") or {}
        cursors = dict(self.calls)
        for key in {*self.calls, *self.scripted}:
            if key.partition(":")[0] in self.scripted:
                start = base.get(key, 0)
                mine = self.calls.get(key, start) - start
                cursors[key] = start + mine * self.width + self.index
        return cursors

    def note(self, own: dict[str, Any]) -> None:
        self.spend.note(self.fanout, self.step, spent_since(own, self.base))


class BranchChannel:
    """The run's channel as one branch uses it (see graphs/events.TaskChannel)."""

    def __init__(self, inner: Any, step: str) -> None:
        self._inner = inner
        self.step = step
        self.task_id = inner.task_id
        self._scope: str | None = None
        self._position = 0

    async def emit(self, type: str, data: dict[str, Any], *, key: str | None = None) -> None:
        if key is None and self._scope is not None:
            key = f"{self._scope}#{self._position}"
        elif key is not None:
            # A caller's key (model:worker:3, tool:<call id>) is unique within one run of
            # nodes; sibling branches counting from the same fan-out would share it, and the
            # events table keeps only the first of a key. Still stable across a resume.
            key = f"branch:{self.step}/{key}"
        self._position += 1
        await self._inner.emit(type, {**data, "branch": self.step}, key=key)

    async def boundary(
        self, node: str, *, announce: bool = False, scope: str | None = None
    ) -> bool:
        """Record entering `node` and read the stop flag (one round trip: the run's channel
        keeps one node's bookkeeping, not one per branch)."""
        self._scope = f"branch:{self.step}/{scope}" if scope else None
        self._position = 0
        await self.emit("node", {"node": node})
        return await self._inner.flush()

    async def flush(self, *, usage: dict[str, Any] | None = None) -> bool:
        return await self._inner.flush(usage=usage)

    async def park(self, task: str | None, *, usage: dict[str, Any] | None = None) -> bool:
        return False  # sibling branches share the run's buffer: each flushes its own node
