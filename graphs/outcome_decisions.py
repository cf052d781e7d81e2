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
node runs again from the top after each answer or crash. So the questions asked for a call
must come out the same every time: the call's ledger record keeps every answer given for
it, each is asked again first (and answered at once with the recorded answer), and only
then is anything new asked. Applying an answer is keyed by its number, so it happens once.
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


class _Questions:
    """The "did this happen?" questions of one call, numbered in the order they are asked."""

    def __init__(self, run: NodeRun, call: dict[str, Any], scope: str) -> None:
        self.run = run
        self.call = call
        self.scope = scope
        self.actions: list[str] = []  # every answer, recorded or new, in order

    @property
    def count(self) -> int:
        return len(self.actions)

    def again(self, record: LedgerEntry) -> None:
        """Ask the next question already answered; LangGraph returns its answer at once."""
        interrupt(self._payload(record, None))
        self.actions.append(record.decisions[self.count].action)

    async def ask(self, record: LedgerEntry, ledger: ToolLedger) -> ApprovalDecision:
        """Ask anew: raises LangGraph's GraphInterrupt until the person has answered."""
        earlier = None
        if record.repeat_of:
            earlier = await ledger.get(record.task_id, record.repeat_of)
        decision = parse_decision(interrupt(self._payload(record, earlier)))
        self.actions.append(decision.action)
        return decision

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
    questions = _Questions(run, call, scope)
    record = await _record_or_hold(ledger, deps.task_id, call)
    rerun = False
    while True:
        if record is not None and questions.count < len(record.decisions):
            questions.again(record)
            continue
        if record is not None and record.unresolved:
            decision = await questions.ask(record, ledger)
            record = await ledger.decide(
                deps.task_id,
                call["id"],
                index=questions.count - 1,
                action=_ledger_action(decision),
                decided_by=decision.decided_by,
                comment=decision.comment,
            )
            rerun = decision.action == "retry" and record.status == "started"
            if not rerun:
                continue  # done / skip: answered from the record below; unfit: asked again
        outcome = await execute_tool_call(
            call, deps.toolset, task_id=deps.task_id, ledger=ledger, approved=True, rerun=rerun
        )
        rerun = False
        if outcome.status != "unknown_outcome":
            return outcome, questions.actions
        record = await ledger.get(deps.task_id, call["id"])


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
