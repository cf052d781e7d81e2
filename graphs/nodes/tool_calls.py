"""tools: run the worker's tool calls through policy, approval, budgets and the ledger.

Approvals (policy "approval") are asked before any call runs. A side-effecting call whose
outcome turns out unknown is asked about ("did this happen?", graphs/outcome_decisions.py)
where it stands, so the calls before it in the same message run again when the node does:
read calls really run again (they change nothing), side-effecting ones are answered from
the ledger, so nothing with an effect runs twice.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command, interrupt

from graphs.approval import (
    ApprovalDecision,
    approval_request,
    check_decision_fits,
    parse_decision,
)
from graphs.boundary import BudgetExhausted, NodeRun
from graphs.budgets import exhausted_before_tool_call
from graphs.entropy import remember
from graphs.events import TOOL_CALL
from graphs.outcome_decisions import settle_call
from graphs.pii_masking import ToolMasking
from graphs.tool_content import with_images
from tools.arguments import args_hash
from tools.execution import execute_tool_call
from tools.mcp.content import collect_images
from tools.outcome import ToolOutcome
from tools.policy import spec_tool_name
from tools.sandbox_task import task_scope

REJECTED = "wakeful_rejected"  # marks a ToolMessage answering a call the operator rejected


def _last_ai_message(run: NodeRun) -> AIMessage:
    for message in reversed(run.state["messages"]):
        if isinstance(message, AIMessage):
            return message
    raise RuntimeError("tools node reached without a model message")


def _rejection(call: dict, decision: ApprovalDecision) -> ToolMessage:
    comment = f" Their comment: {decision.comment}" if decision.comment else ""
    return ToolMessage(
        content=f"The operator rejected this call of {call['name']}; it was not run.{comment}",
        tool_call_id=call["id"],
        name=call["name"],
        status="error",
        additional_kwargs={REJECTED: True},
    )


def _approvals(run: NodeRun, ai: AIMessage) -> dict[str, ApprovalDecision]:
    """Ask for every call the agent's policy puts behind an approval, before any runs."""
    decisions: dict[str, ApprovalDecision] = {}
    for call in ai.tool_calls:
        entry = run.deps.toolset.lookup(call["name"])
        if entry is None or entry.decision.policy != "approval":
            continue
        request = approval_request(
            {**call, "name": spec_tool_name(call["name"])},
            rationale=ai.text if isinstance(ai.text, str) else "",
            scope=entry.registered.spec.scope,
            policy_source=entry.decision.source,
            step=run.state["current_step"],
        )
        request["reason"] = "policy"
        decision = parse_decision(interrupt(request))
        try:
            check_decision_fits(request, decision)
        except ValueError as exc:  # an answer meant for another question runs nothing
            decision = ApprovalDecision(
                action="reject", comment=f"unfit decision: {exc}", decided_by=decision.decided_by
            )
        decisions[call["id"]] = decision
    return decisions


async def _execute(run: NodeRun, call: dict[str, Any]) -> tuple[ToolOutcome, list[str]]:
    """Run one call; a side-effecting one asks a person whenever its outcome is unknown."""
    deps = run.deps
    entry = deps.toolset.lookup(call["name"])
    journaled = (
        deps.ledger is not None
        and bool(call.get("id"))
        and entry is not None
        and entry.decision.policy != "deny"
        and entry.registered.spec.has_side_effects
    )
    with task_scope(deps.task_id):  # sandboxed code tools work in this task's scratch dir
        if journaled:
            assert entry is not None
            return await settle_call(run, call, scope=entry.registered.spec.scope)
        outcome = await execute_tool_call(
            call, deps.toolset, task_id=deps.task_id, ledger=deps.ledger, approved=True
        )
        return outcome, []


async def _run_call(
    run: NodeRun, call: dict[str, Any], masking: ToolMasking | None, pii: dict[str, Any]
) -> tuple[ToolOutcome, ToolMessage, HumanMessage | None, list[str]]:
    """Run one call with PII restored in its arguments and masked in its output (counts
    into `pii`); images it returned come as a message of their own for the model."""
    if masking is not None:
        call, pii["restored"] = await masking.restore(call)
    with collect_images() as images:
        outcome, answers = await _execute(run, call)
    message, shown = with_images(outcome.to_message(), images, run.deps.models["worker"].model)
    if masking is not None:
        message, pii["masked"] = await masking.mask(message)
    return outcome, message, shown, answers


def _note_signals(loop: dict[str, Any], name: str, digest: str, message: ToolMessage) -> None:
    """The entropy monitor's structural signals: repeated calls and repeated errors."""
    signature = f"{name}#{digest}"
    if signature not in loop["tool_hashes"]:
        loop["compactions"] = 0  # something new happened: compaction is not churn
    loop["tool_hashes"] = remember(loop["tool_hashes"], signature)
    if message.status == "error":
        error_digest = args_hash({"error": str(message.content)[:300]})
        loop["errors"] = remember(loop["errors"], f"{name}#{error_digest}")


async def tools(run: NodeRun) -> Command:
    state, deps = run.state, run.deps
    ai = _last_ai_message(run)
    approvals = _approvals(run, ai)
    usage = run.usage()
    loop = dict(state["loop"])
    masking = ToolMasking.for_run(deps)
    messages: list[ToolMessage] = []
    image_messages: list[HumanMessage] = []  # after every tool message of this turn
    for call in ai.tool_calls:
        if budget := exhausted_before_tool_call(run.live(usage), deps.budgets, run.elapsed()):
            raise BudgetExhausted(budget, usage)
        usage["tool_calls"] += 1
        if run.branch is not None:  # the sibling branches see this call at once
            run.branch.own(dict(usage))
        approval = approvals.get(call["id"])
        answers: list[str] = []
        pii: dict[str, Any] = {}
        if approval is not None and approval.action == "reject":
            message = _rejection(call, approval)
            status, digest, duration, attempts = "rejected", args_hash(call["args"]), 0, 0
        else:
            if approval is not None and approval.action == "edit":
                call = {**call, "args": approval.args or {}}
            outcome, message, shown, answers = await _run_call(run, call, masking, pii)
            image_messages += [shown] if shown is not None else []
            status, digest = outcome.status, outcome.args_hash
            duration, attempts = outcome.duration_ms, outcome.attempts
        messages.append(message)
        _note_signals(loop, call["name"], digest, message)
        await deps.channel.emit(
            TOOL_CALL,
            {
                "tool": spec_tool_name(call["name"]),
                "args_hash": digest,
                "status": status,
                "duration_ms": duration,
                "attempts": attempts,
                "tool_call_id": call["id"],
                "step": state["current_step"],
                "approval": approval.action if approval else None,
                "outcome_decisions": answers,
                **({"pii": pii} if masking is not None else {}),
            },
            key=f"tool:{call['id']}",
        )
    return Command(
        goto="entropy_monitor",
        update={"messages": [*messages, *image_messages], "usage": usage, "loop": loop},
    )
