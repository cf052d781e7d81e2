"""L2 compaction: when the working window passes ~90% of its budget, the oldest messages
(at least 30% of it, whole call+result units) are written to L3 and folded into the
running summary by the summarizer role. If the summarizer fails, they are dropped with a
note (hard trim): the run goes on either way.
"""

from __future__ import annotations

import logging
from typing import Any

from langchain_core.messages import RemoveMessage, SystemMessage

from graphs import prompts
from graphs.boundary import BudgetExhausted, NodeRun
from graphs.events import COMPACTION
from graphs.model_calls import call_model
from memory.working_window import render_transcript, select_eviction, window_tokens

log = logging.getLogger(__name__)


async def compact_if_needed(run: NodeRun) -> dict[str, Any]:
    """The state update compaction makes, or {} when the window still fits."""
    state, deps = run.state, run.deps
    config = deps.spec.memory
    messages = state["messages"]
    tokens = window_tokens(messages)
    if tokens < config.working_tokens * config.compaction_threshold:
        return {}
    eviction = select_eviction(messages, fraction=config.compaction_fraction)
    if not eviction.evicted:
        return {}

    memory = deps.extras.get("memory")
    if memory is not None:
        await memory.store_evicted(eviction.evicted, run.state, deps)

    transcript = render_transcript(eviction.evicted)
    usage = run.usage()
    method = "summarized"
    try:
        reply = await call_model(
            run,
            "summarizer",
            [
                SystemMessage(
                    prompts.SUMMARIZER.format(
                        goal=state["goal"], summary=state["summary"] or "(none)",
                        transcript=transcript,
                    )
                )
            ],
            usage=usage,
        )
        usage = reply.usage
        summary = reply.message.text.strip() if isinstance(reply.message.text, str) else ""
        if not summary:
            raise ValueError("empty summary")
    except BudgetExhausted:
        raise
    except Exception as exc:  # a failing summarizer must not stop the run
        log.warning("summarizer failed (%s); hard-trimming %d messages", exc, len(eviction.evicted))
        method = "hard_trim"
        note = f"[{len(eviction.evicted)} older messages dropped without a summary]"
        summary = f"{state['summary']}\n{note}".strip()

    loop = dict(state["loop"])
    loop["compactions"] = loop.get("compactions", 0) + 1
    await deps.channel.emit(
        COMPACTION,
        {
            "method": method,
            "window_tokens": tokens,
            "evicted_messages": len(eviction.evicted),
            "evicted_tokens": eviction.evicted_tokens,
            "budget": config.working_tokens,
        },
    )
    return {
        "messages": [RemoveMessage(id=m.id) for m in eviction.evicted if m.id],
        "summary": summary,
        "usage": usage,
        "loop": loop,
    }
