"""Traces of task runs, exported when stack/telemetry.py is on (OTEL_* variables).

`TaskRunner.run` wraps each run in `task_run`, hands `RunTrace.listeners` to the run's
channel and passes `traced(config)` to LangGraph. When tracing is off, `task_run` gives a
trace that does nothing and `traced` returns the config as it was: the OpenTelemetry SDK
is not even imported.

The spans (graphs/trace_spans.py, OpenTelemetry GenAI conventions): one `invoke_agent
<agent>` per run, one per node, `chat <model>` per model call and `execute_tool <name>` per
tool call. All runs of a task share one trace, its id derived from the task id; a run's
span id is derived from (task id, lease epoch), and each run after the first links to
the span of the run before it (epoch - 1), so a resume after an approval or a crash needs
nothing stored beyond what the lifecycle already keeps (the epoch in each run_started
event).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from graphs.events import Listener
from stack import telemetry
from stack.lifecycle import Lease
from stack.task_records import TaskRow

if TYPE_CHECKING:
    from graphs.runner import RunResult
    from graphs.trace_spans import RunSpans

_current: ContextVar[RunSpans | None] = ContextVar("wakeful_run_spans", default=None)


class RunTrace:
    """The trace of one run; without `spans` (tracing off) it does nothing."""

    def __init__(self, spans: RunSpans | None = None) -> None:
        self.spans = spans

    @property
    def listeners(self) -> tuple[Listener, ...]:
        return (self.spans.on_event,) if self.spans is not None else ()

    def ended(self, result: RunResult) -> RunResult:
        """Note how the run ended (the task's state, stop reason, usage); returns `result`."""
        if self.spans is not None:
            self.spans.ended(result.task, waiting=len(result.interrupts))
        return result


@contextlib.contextmanager
def task_run(task: TaskRow, lease: Lease) -> Iterator[RunTrace]:
    """The span of this run of `task` (claimed under `lease`), open for the block."""
    tracer = telemetry.tracer()
    if tracer is None:
        yield RunTrace()
        return
    from graphs.trace_spans import RunSpans

    spans = RunSpans(tracer, task, lease.epoch)
    token = _current.set(spans)
    try:
        yield RunTrace(spans)
    except BaseException as exc:
        spans.failed(exc)
        raise
    finally:
        _current.reset(token)
        spans.close()


def traced(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with the current run's span callbacks, when a traced run is under way."""
    spans = _current.get()
    if spans is None:
        return config
    return {**config, "callbacks": [*(config.get("callbacks") or []), spans]}
