"""The trace format: one task's record as JSON lines, readable without any database.

A trace file holds, one JSON object per line, a `trace` header (with `format_version`),
the `task` row, its `event`s, the `node_path` from the checkpoint history, every
`message` the run held (tool calls and results included), the final `state`, the
`usage`, an optional `scenario` (the expectations it is judged by) and an `end` line with
record counts. evals/TRACE_FORMAT.md documents each record; `Trace` is their in-memory form.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from stack.errors import ConfigError

FORMAT_VERSION = 1
"""Bumped on any change a reader of the previous version would misread. Adding a record
kind or a field is not such a change: readers ignore what they do not know."""

TRACE_SUFFIX = ".jsonl"


class TraceFormatError(ConfigError):
    """A trace file is not in a format this version of wakeful reads."""


@dataclass
class Trace:
    task: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)  # node path, in execution order
    graph_steps: list[list[str]] = field(default_factory=list)  # agentevals segments
    interrupts: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    usage: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] | None = None  # {dataset, name, repeat, expect}
    exported_at: str = ""
    exporter: str = "wakeful"
    format_version: int = FORMAT_VERSION

    @property
    def task_id(self) -> str:
        return str(self.task.get("id", ""))

    def events_of(self, *types: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] in types]

    # -- records ---------------------------------------------------------------------------

    def records(self) -> Iterator[dict[str, Any]]:
        yield {
            "record": "trace",
            "format_version": self.format_version,
            "task_id": self.task_id,
            "exported_at": self.exported_at,
            "exporter": self.exporter,
        }
        yield {"record": "task", **self.task}
        if self.scenario is not None:
            yield {"record": "scenario", **self.scenario}
        for event in self.events:
            yield {"record": "event", **event}
        yield {
            "record": "node_path",
            "nodes": self.nodes,
            "graph_steps": self.graph_steps,
            "interrupts": self.interrupts,
        }
        for message in self.messages:
            yield {"record": "message", **message}
        yield {"record": "state", **self.state}
        yield {"record": "usage", **self.usage}
        yield {
            "record": "end",
            "counts": {"event": len(self.events), "message": len(self.messages)},
        }

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], *, source: str = "trace") -> Trace:
        it = iter(records)
        header = next(it, None)
        if not header or header.get("record") != "trace":
            raise TraceFormatError(f"{source}: the first line is not a `trace` header")
        version = header.get("format_version")
        if version != FORMAT_VERSION:
            raise TraceFormatError(
                f"{source}: trace format_version {version!r}; this wakeful reads "
                f"version {FORMAT_VERSION} (re-export the task with this version)"
            )
        trace = cls(
            task={},
            exported_at=str(header.get("exported_at", "")),
            exporter=str(header.get("exporter", "")),
        )
        counts: dict[str, int] | None = None
        for record in it:
            kind = record.get("record")
            body = {k: v for k, v in record.items() if k != "record"}
            if kind == "task":
                trace.task = body
            elif kind == "scenario":
                trace.scenario = body
            elif kind == "event":
                trace.events.append(body)
            elif kind == "node_path":
                trace.nodes = list(body.get("nodes", []))
                trace.graph_steps = [list(s) for s in body.get("graph_steps", [])]
                trace.interrupts = list(body.get("interrupts", []))
            elif kind == "message":
                trace.messages.append(body)
            elif kind == "state":
                trace.state = body
            elif kind == "usage":
                trace.usage = body
            elif kind == "end":
                counts = body.get("counts", {})
            # other kinds: written by a newer exporter of the same version; ignored
        if counts is None:
            raise TraceFormatError(f"{source}: no `end` line; the file is truncated")
        if counts.get("event") != len(trace.events) or counts.get("message") != len(
            trace.messages
        ):
            raise TraceFormatError(f"{source}: record counts do not match the `end` line")
        if not trace.task:
            raise TraceFormatError(f"{source}: no `task` record")
        return trace

    # -- files -----------------------------------------------------------------------------

    def dumps(self) -> str:
        return "".join(_line(record) + "\n" for record in self.records())

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.dumps(), encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: Path) -> Trace:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read trace {path}: {exc.strerror}") from exc
        try:
            records = [json.loads(line) for line in lines if line.strip()]
        except json.JSONDecodeError as exc:
            raise TraceFormatError(f"{path}: line {exc.lineno} is not JSON") from exc
        return cls.from_records(records, source=str(path))


def to_json(value: Any) -> str:
    """Compact, key-sorted JSON: the same trace always serialises to the same bytes."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=_json_default)


def _line(record: dict[str, Any]) -> str:
    """One record as a line: its kind first (for people and grep), then the keys sorted."""
    body = {k: v for k, v in record.items() if k != "record"}
    rest = to_json(body)[1:]
    return '{"record": ' + to_json(record["record"]) + (", " + rest if rest != "}" else "}")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return str(value)


def jsonable(value: Any) -> Any:
    """`value` as plain JSON types (datetimes as ISO strings)."""
    return json.loads(to_json(value))


def trace_files(directory: Path) -> list[Path]:
    """The trace files in a directory (not recursive), sorted by name."""
    if not directory.is_dir():
        raise ConfigError(f"trace directory {directory} does not exist")
    return sorted(p for p in directory.glob(f"*{TRACE_SUFFIX}") if p.is_file())
