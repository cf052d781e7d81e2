"""tools: run the worker's tool calls through policy, approval, budgets and the ledger.

All approval interrupts happen before any call runs: a resumed node re-executes from the
top, and nothing may run twice.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.types import Command, interrupt

from graphs.approval import ApprovalDecision, approval_request, parse_decision
from graphs.boundary import BudgetExhausted, NodeRun
from graphs.budgets import exhausted_before_tool_call
from graphs.entropy import remember
from graphs.events import TOOL_CALL
from tools.arguments import args_hash
from tools.execution import execute_tool_call
from tools.policy import spec_tool_name


def _last_ai_message(run: NodeRun) -> AIMessage:
    for message in reversed(run.state["messages"]):
        if isinstance(message, AIMessage):
            return message
    raise RuntimeError("tools node reached without a model message")


REJECTED = "wakeful_rejected"  # marks a ToolMessage answering a call the operator rejected


def _rejection(call: dict, decision: ApprovalDecision) -> ToolMessage:
    comment = f" Their comment: {decision.comment}" if decision.comment else ""
    return ToolMessage(
        content=f"The operator rejected this call of {call['name']}; it was not run.{comment}",
        tool_call_id=call["id"],
        name=call["name"],
        status="error",
        additional_kwargs={REJECTED: True},
    )


async def _approval_reason(run: NodeRun, call: dict) -> str | None:
    """Why this call must wait for a person, or None.

    `policy`: the agent's policy says so. `repeat_of_unknown_outcome`: an earlier call
    with the same arguments started and never finished (a crash mid-call); running it
    again could do the same thing twice.
    """
    deps = run.deps
    entry = deps.toolset.lookup(call["name"])
    if entry is None or entry.decision.policy == "deny":
        return None
    if entry.decision.policy == "approval":
        return "policy"
    if entry.registered.spec.has_side_effects and deps.ledger is not None:
        repeat = await deps.ledger.has_unknown_outcome(
            deps.task_id, call["name"], args_hash(call["args"]), excluding=call["id"]
        )
        if repeat:
            return "repeat_of_unknown_outcome"
    return None


async def tools(run: NodeRun) -> Command:
    state, deps = run.state, run.deps
    ai = _last_ai_message(run)
    decisions: dict[str, ApprovalDecision] = {}
    for call in ai.tool_calls:
        reason = await _approval_reason(run, call)
        if reason is None:
            continue
        entry = deps.toolset.lookup(call["name"])
        assert entry is not None
        request = approval_request(
            {**call, "name": spec_tool_name(call["name"])},
            rationale=ai.text if isinstance(ai.text, str) else "",
            scope=entry.registered.spec.scope,
            policy_source=entry.decision.source,
            step=state["current_step"],
        )
        decisions[call["id"]] = parse_decision(interrupt({**request, "reason": reason}))

    usage = run.usage()
    loop = dict(state["loop"])
    messages: list[ToolMessage] = []
    for call in ai.tool_calls:
        if budget := exhausted_before_tool_call(usage, deps.budgets, run.elapsed()):
            raise BudgetExhausted(budget, usage)
        decision = decisions.get(call["id"])
        usage["tool_calls"] += 1
        if decision is not None and decision.action == "reject":
            message = _rejection(call, decision)
            status, digest, duration, attempts = "rejected", args_hash(call["args"]), 0, 0
        else:
            if decision is not None and decision.action == "edit":
                call = {**call, "args": decision.args or {}}
            outcome = await execute_tool_call(
                call,
                deps.toolset,
                task_id=deps.task_id,
                ledger=deps.ledger,
                approved=decision is not None,
            )
            message = outcome.to_message()
            status, digest = outcome.status, outcome.args_hash
            duration, attempts = outcome.duration_ms, outcome.attempts
        messages.append(message)
        signature = f"{call['name']}#{digest}"
        if signature not in loop["tool_hashes"]:
            loop["compactions"] = 0  # something new happened: compaction is not churn
        loop["tool_hashes"] = remember(loop["tool_hashes"], signature)
        if message.status == "error":
            error_digest = args_hash({"error": str(message.content)[:300]})
            loop["errors"] = remember(loop["errors"], f"{call['name']}#{error_digest}")
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
                "approval": decision.action if decision else None,
            },
            key=f"tool:{call['id']}",
        )
    return Command(
        goto="entropy_monitor", update={"messages": messages, "usage": usage, "loop": loop}
    )
