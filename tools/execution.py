"""Run one tool call safely: policy check, argument check, timeout, retries, truncation, and
the idempotency ledger for side-effecting tools. Tool problems come back as content for the
model; only infrastructure failures (the ledger's database) raise.

A side-effecting (write / external) call that times out, loses its MCP connection or is
cancelled mid-call may have taken effect: its outcome is `unknown_outcome` (recorded
"unknown" in the ledger), never an error, and it is not retried. The graph asks a person
"did this happen?" (graphs/outcome_decisions.py); their answer is applied by the ledger.

Approval is not handled here: the graph interrupts for "approval" tools before calling
`execute_tool_call`, which only refuses "deny".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.messages.tool import ToolCall
from langchain_core.tools import ToolException
from pydantic import BaseModel

from tools.arguments import args_hash, validate_args
from tools.faults import CrashHook, env_crash_hook
from tools.ledger import LedgerEntry, ToolLedger
from tools.outcome import ToolOutcome, ToolStatus, UnknownReason
from tools.registry import ResolvedTool, Toolset
from tools.retry import RetryPolicy, is_retryable, unknown_outcome_reason
from tools.spec import RegisteredTool, ToolSpec
from tools.truncation import truncate

Sleep = Callable[[float], Awaitable[None]]
DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class _Run:
    ok: bool
    content: str
    attempts: int
    unknown: UnknownReason | None = None  # why the outcome is unknown (side effects only)


_Answer = tuple[ToolStatus, str, UnknownReason | None]


async def execute_tool_call(
    call: ToolCall | dict[str, Any],
    toolset: Toolset,
    *,
    task_id: str,
    ledger: ToolLedger | None,
    crash_hook: CrashHook = env_crash_hook,
    retry: RetryPolicy = DEFAULT_RETRY,
    sleep: Sleep = asyncio.sleep,
    approved: bool = False,
    rerun: bool = False,
) -> ToolOutcome:
    """Execute a model's tool call ({"name", "args", "id"}) for task `task_id`.

    Write and external tools are recorded in `ledger` (when given) under (task_id, call id):
    a call recorded as completed is replayed, one recorded as started or unknown is not
    repeated, one a person settled is answered from their decision. A new call of the same
    tool with the same arguments as a call whose outcome is unknown runs only if `approved`
    (a person approved this very call); otherwise it is answered with status
    "needs_approval". `rerun`: a person answered "retry" for this call, which set its record
    back to started (ToolLedger.decide): run it again. `sleep` waits between retries
    (inject one to observe the backoff). A cancel mid-call is recorded, then re-raised.
    """
    started = time.monotonic()
    name, args, call_id = call["name"], call.get("args", {}), call.get("id")
    digest = args_hash(args)

    def outcome(
        status: ToolStatus, content: str, reason: UnknownReason | None = None, attempts: int = 0
    ) -> ToolOutcome:
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return ToolOutcome(
            tool_call_id=call_id,
            name=name,
            content=content,
            status=status,
            duration_ms=elapsed_ms,
            args_hash=digest,
            attempts=attempts,
            unknown_reason=reason,
        )

    entry = toolset.lookup(name)
    if entry is None or entry.decision.policy == "deny":
        return outcome("denied", _refusal(name, entry, toolset))
    spec = entry.registered.spec
    if problem := validate_args(entry.registered.tool, args):
        return outcome("error", truncate(problem, spec.max_output_chars))
    journal = ledger if spec.has_side_effects else None
    if journal is not None:
        if not call_id:
            return outcome("error", f"Error: a call of {name!r} needs a tool call id; not run.")
        answer = await _settled_before(journal, task_id, call_id, name, digest, approved, rerun)
        if answer is not None:
            return outcome(*answer)
    crash_hook("during", name)
    run = await _run_and_record(entry.registered, args, retry, sleep, journal, task_id, call_id)
    crash_hook("after", name)
    status: ToolStatus = "unknown_outcome" if run.unknown else "ok" if run.ok else "error"
    return outcome(status, run.content, run.unknown, run.attempts)


async def _settled_before(
    journal: ToolLedger,
    task_id: str,
    call_id: str,
    name: str,
    digest: str,
    approved: bool,
    rerun: bool,
) -> _Answer | None:
    """The answer for a call the ledger says must not run now, or None: run it (its
    "started" record is written)."""
    if rerun:
        prior = await journal.get(task_id, call_id)
        if prior is not None and prior.status == "started" and prior.decisions:
            return None  # set back to started by the person's "retry"
        if prior is None:
            return "error", f"Error: no record of the {name!r} call to run again; not run.", None
        return _from_prior(prior, name, digest)
    if not approved and await _repeats_unknown(journal, task_id, call_id, name, digest):
        return "needs_approval", _held(name), None
    prior = await journal.begin(task_id, call_id, tool=name, args_hash=digest)
    return None if prior is None else _from_prior(prior, name, digest)


def _refusal(name: str, entry: ResolvedTool | None, toolset: Toolset) -> str:
    usable = ", ".join(toolset.usable_names()) or "(none)"
    if entry is None:
        return f"Error: there is no tool named {name!r}. Tools you can use: {usable}."
    if entry.decision.source.startswith("pin:"):
        return (
            f"Error: tool {name!r} is not permitted: its description or input schema is not "
            "approved (new or changed since an operator approved it). An operator must "
            f"approve it before it can run; continue with the tools you can use: {usable}."
        )
    return (
        f"Error: tool {name!r} is not permitted for this agent "
        f"(policy deny, rule {entry.decision.source}). Do not call it again; "
        f"continue with the tools you can use: {usable}."
    )


async def _repeats_unknown(
    journal: ToolLedger, task_id: str, call_id: str, name: str, digest: str
) -> bool:
    """A new call (no record of its own) repeating one whose outcome is unknown."""
    if not await journal.has_unknown_outcome(task_id, name, digest, excluding=call_id):
        return False
    return await journal.get(task_id, call_id) is None


def _held(name: str) -> str:
    return (
        f"Error: an earlier call of {name!r} with these same arguments started but never "
        "finished, so it may already have taken effect. This call was NOT run: repeating it "
        "needs a person's approval. Check whether the earlier call took effect first."
    )


def _from_prior(prior: LedgerEntry, name: str, digest: str) -> _Answer:
    """What to answer for a call the ledger has seen before, without running it again."""
    if prior.tool != name or prior.args_hash != digest:
        return (
            "error",
            (
                f"Error: tool call id {prior.tool_call_id!r} was already used in this task for a "
                f"different call ({prior.tool} with other arguments); this call was not run. "
                "Each tool call needs its own id."
            ),
            None,
        )
    last = prior.decisions[-1] if prior.decisions else None
    if prior.status == "completed" and last is not None and last.action == "done":
        return "confirmed", _confirmed(name, prior.result), None
    if prior.status == "completed":
        return "replayed", prior.result or "", None
    if prior.status == "failed":
        return "error", prior.result or f"Error: tool {name!r} failed earlier.", None
    if prior.status == "skipped":
        return "skipped", _skipped(name, last.comment if last else None), None
    if prior.status == "held":
        return "needs_approval", _held(name), None
    reason: UnknownReason = "crashed" if prior.status == "started" else _reason(prior)
    return (
        "unknown_outcome",
        (
            f"Error: an earlier attempt of this {name!r} call (id {prior.tool_call_id!r}) started "
            "but never finished, so its outcome is unknown: it may or may not have taken effect. "
            "It was NOT repeated. Check whether it took effect before calling it again."
        ),
        reason,
    )


def _reason(prior: LedgerEntry) -> UnknownReason:
    known = ("timeout", "connection_lost", "canceled", "crashed", "repeat_of_unknown_outcome")
    reason = prior.unknown_reason
    return reason if reason in known else "crashed"  # type: ignore[return-value]


def _confirmed(name: str, result: str | None) -> str:
    reported = f" Their note on the result: {result}" if result else " They gave no result."
    return (
        f"A person confirmed that this call of {name!r} took effect (its outcome had been "
        f"unknown); it was not run again.{reported}"
    )


def _skipped(name: str, comment: str | None) -> str:
    note = f" Their comment: {comment}" if comment else ""
    return (
        f"This call of {name!r} was NOT performed: its outcome was unknown and a person "
        f"decided that it did not happen or must not be done.{note}"
    )


async def _run_and_record(
    registered: RegisteredTool,
    args: dict[str, Any],
    retry: RetryPolicy,
    sleep: Sleep,
    journal: ToolLedger | None,
    task_id: str,
    call_id: str | None,
) -> _Run:
    """Run the tool and record what came of it (side-effecting calls with a ledger)."""
    spec = registered.spec
    try:
        run = await _run_with_retries(registered, args, retry, sleep)
    except asyncio.CancelledError:
        if journal is not None and call_id:
            text = f"Error: the call of {spec.name!r} was cancelled mid-call; it may have run."
            record = journal.mark_unknown(task_id, call_id, reason="canceled", detail=text)
            await asyncio.shield(asyncio.ensure_future(record))  # written even as we unwind
        raise
    run = replace(run, content=truncate(run.content, spec.max_output_chars))
    if journal is not None and call_id:
        if run.unknown:
            await journal.mark_unknown(task_id, call_id, reason=run.unknown, detail=run.content)
        elif run.ok:
            await journal.complete(task_id, call_id, run.content)
        else:
            await journal.fail(task_id, call_id, run.content)
    return run


async def _run_with_retries(
    registered: RegisteredTool, args: dict[str, Any], retry: RetryPolicy, sleep: Sleep
) -> _Run:
    spec = registered.spec
    attempt = 0
    while True:
        attempt += 1
        try:
            # Sync tools run in a worker thread (BaseTool.ainvoke); on timeout that thread
            # cannot be stopped and finishes in the background.
            result = await asyncio.wait_for(registered.tool.ainvoke(dict(args)), spec.timeout_s)
        except Exception as exc:
            if attempt <= spec.max_retries and is_retryable(exc, spec.scope):
                await sleep(retry.delay(attempt))
                continue
            unknown = unknown_outcome_reason(exc) if spec.has_side_effects else None
            text = _error_text(spec, exc, attempt)
            return _Run(ok=False, content=text, attempts=attempt, unknown=unknown)  # type: ignore[arg-type]
        return _Run(ok=True, content=as_text(result), attempts=attempt)


def _error_text(spec: ToolSpec, exc: Exception, attempts: int) -> str:
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    if isinstance(exc, TimeoutError):
        text = f"Error: tool {spec.name!r} timed out after {spec.timeout_s:g}s{tries}."
        if spec.has_side_effects:
            text += " It may still have taken effect; it was not retried."
        return text
    if isinstance(exc, ToolException):  # the tool reported an error (an MCP error result)
        return f"Error: tool {spec.name!r} returned an error{tries}: {exc}"
    return f"Error: tool {spec.name!r} failed{tries}: {type(exc).__name__}: {exc}"


def as_text(result: Any) -> str:
    """Tool output as text: strings as they are, everything else as JSON."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseMessage):
        return str(result.text)
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json")
    if _is_content_blocks(result):
        return "\n".join(_block_text(block) for block in result)
    return json.dumps(result, ensure_ascii=False, default=str)


def _is_content_blocks(result: Any) -> bool:
    """LangChain content blocks, as MCP tools return: [{"type": "text", "text": ...}, ...]."""
    return (
        isinstance(result, list)
        and bool(result)
        and all(isinstance(block, dict) and isinstance(block.get("type"), str) for block in result)
    )


def _block_text(block: dict[str, Any]) -> str:
    if block["type"] == "text":
        return str(block.get("text", ""))
    where = block.get("url") or block.get("mime_type") or "inline data"
    return f"[{block['type']} content not shown: {where}]"
