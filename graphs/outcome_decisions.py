"""A side-effecting call whose outcome is unknown waits for a person: "did this happen?"

`settle_call` runs one write or external call for the tools node. Whenever its outcome is
unknown (it timed out, lost its MCP connection, was cancelled, or was found started but
never finished after a crash), or it repeats another call whose outcome is unknown (same
tool and arguments, another call id), the node interrupts with a payload of kind
`unknown_outcome` (graphs/approval.py), so the task waits `input-required`. The answer is
recorded in the ledger (who, which) and acted on: done (the model is told it happened, with
the person's result text), retry (the call runs again now), skip (the model is told it was
not performed). An answer that is none of these is recorded and the question asked again.

LangGraph hands a resumed node its answers by the order of its `interrupt()` calls, and the
node runs again from the top after each answer or crash. So each answer given for a call is
asked for again, in order, before anything new (LangGraph answers at once with the recorded
answer), and the ledger applies an answer once (keyed by its number). Should LangGraph have
lost an answer that the ledger recorded (a crash in between), the person is shown the
question again; their new answer is then taken for the question as it stands now.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import interrupt

from graphs.approval import ApprovalDecision, parse_decision, unknown_outcome_request
from graphs.boundary import NodeRun
from tools.arguments import args_hash
from tools.execution import execute_tool_call
from tools.ledger import LedgerAction, LedgerEntry, ToolLedger
from tools.outcome import ToolOutcome
from tools.policy import spec_tool_name

_ANSWERS: frozenset[str] = frozenset({"done", "retry", "skip"})


class _Question:
    """Asks "did this happen?" about one call, in the interrupt payload's terms."""

    def __init__(self, run: NodeRun, call: dict[str, Any], scope: str) -> None:
        self.run = run
        self.call = call
        self.scope = scope

    async def ask(self, record: LedgerEntry, ledger: ToolLedger) -> ApprovalDecision:
        """The answer: at once when LangGraph has one for this interrupt, else this raises
        LangGraph's GraphInterrupt (the task then waits for a person)."""
        earlier = None
        if record.repeat_of:
            earlier = await ledger.get(record.task_id, record.repeat_of)
        return parse_decision(interrupt(self._payload(record, earlier)))

    def _payload(self, record: LedgerEntry, earlier: LedgerEntry | None) -> dict[str, Any]:
        reason = "crashed" if record.status == "started" else record.unknown_reason or "crashed"
        source = earlier or record
        return unknown_outcome_request(
            {**self.call, "name": spec_tool_name(self.call["name"])},
            scope=self.scope,
            started_at=source.started_at,
            reason=reason,
            detail=source.result,
            step=self.run.state.get("current_step"),
            repeat_of=record.repeat_of,
        )


async def settle_call(
    run: NodeRun, call: dict[str, Any], *, scope: str
) -> tuple[ToolOutcome, list[str]]:
    """Run a side-effecting call (through the ledger) until its outcome is known, asking a
    person whenever it is not. Returns the outcome and the person's answers, in order."""
    deps = run.deps
    ledger = deps.ledger
    assert ledger is not None
    question = _Question(run, call, scope)
    record = await _record_or_hold(ledger, deps.task_id, call)
    replayed = 0  # how many of the recorded answers were asked for again so far
    rerun = False
    while True:
        if record is not None and (replayed < len(record.decisions) or record.unresolved):
            decision = await question.ask(record, ledger)
            again = _recorded(record, replayed, decision)
            if again is not None:  # an answer applied before this run of the node
                replayed = again + 1
                continue
            replayed = len(record.decisions)
            if not record.unresolved:
                continue  # a late answer to a question already settled: nothing to do
            record = await ledger.decide(
                deps.task_id,
                call["id"],
                index=len(record.decisions),
                action=_ledger_action(decision),
                decided_by=decision.decided_by,
                comment=decision.comment,
            )
            replayed = len(record.decisions)
            rerun = decision.action == "retry" and record.status == "started"
            if not rerun:
                continue  # done / skip: answered from the record below; unfit: asked again
        outcome = await execute_tool_call(
            call, deps.toolset, task_id=deps.task_id, ledger=ledger, approved=True, rerun=rerun
        )
        rerun = False
        if outcome.status == "unknown_outcome":
            record = await ledger.get(deps.task_id, call["id"])
            if record is not None and record.unresolved:
                continue  # ask about it
        answers = [d.action for d in record.decisions] if record is not None else []
        return outcome, answers


def _recorded(record: LedgerEntry, start: int, decision: ApprovalDecision) -> int | None:
    """The number of the recorded answer (from `start` on) that `decision` repeats, if any."""
    action = _ledger_action(decision)
    for index in range(start, len(record.decisions)):
        given = record.decisions[index]
        if (given.action, given.decided_by, given.comment) == (
            action,
            decision.decided_by,
            decision.comment,
        ):
            return index
    return None


async def _record_or_hold(
    ledger: ToolLedger, task_id: str, call: dict[str, Any]
) -> LedgerEntry | None:
    """The call's ledger record; a new call repeating an unresolved one is recorded held."""
    record = await ledger.get(task_id, call["id"])
    if record is not None:
        return record
    digest = args_hash(call.get("args", {}))
    earlier = await ledger.find_unknown(task_id, call["name"], digest, excluding=call["id"])
    if earlier is None:
        return None
    return await ledger.hold(
        task_id, call["id"], tool=call["name"], args_hash=digest, repeat_of=earlier.tool_call_id
    )


def _ledger_action(decision: ApprovalDecision) -> LedgerAction:
    return decision.action if decision.action in _ANSWERS else "unfit"  # type: ignore[return-value]
