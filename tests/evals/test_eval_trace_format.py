"""The trace file format: a lossless round trip, a version check, truncation detected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.trace import FORMAT_VERSION, Trace, TraceFormatError, trace_files


def test_round_trip_is_lossless_and_stable(trace_builder, tmp_path: Path) -> None:
    builder = trace_builder(output="fine").plan("s").call("disk_usage", {"path": "/"}).answer("ok")
    builder.scenario = {"dataset": "core", "name": "x", "repeat": 2, "expect": {"loops": {}}}
    trace = builder.build()
    path = trace.write(tmp_path / "t.jsonl")
    again = Trace.read(path)
    assert again == trace
    assert again.dumps() == trace.dumps()  # same trace, same bytes
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {"record": "trace", "format_version": FORMAT_VERSION,
                        "task_id": trace.task_id, "exported_at": trace.exported_at,
                        "exporter": "wakeful"}
    kinds = [line["record"] for line in lines]
    assert kinds[:3] == ["trace", "task", "scenario"]
    assert kinds[-3:] == ["state", "usage", "end"]
    assert kinds.count("event") == len(trace.events)
    assert kinds.count("message") == len(trace.messages)
    assert all(line.startswith('{"record": ') for line in path.read_text().splitlines())


def test_other_versions_and_truncated_files_are_refused(trace_builder, tmp_path: Path) -> None:
    lines = trace_builder().build().dumps().splitlines()
    newer = [json.dumps({**json.loads(lines[0]), "format_version": FORMAT_VERSION + 1}),
             *lines[1:]]
    (tmp_path / "newer.jsonl").write_text("\n".join(newer))
    with pytest.raises(TraceFormatError, match="format_version 2"):
        Trace.read(tmp_path / "newer.jsonl")
    (tmp_path / "cut.jsonl").write_text("\n".join(lines[:-1]))
    with pytest.raises(TraceFormatError, match="truncated"):
        Trace.read(tmp_path / "cut.jsonl")
    first_event = next(i for i, line in enumerate(lines) if '"record": "event"' in line)
    (tmp_path / "lost.jsonl").write_text("\n".join(lines[:first_event] + lines[first_event + 1:]))
    with pytest.raises(TraceFormatError, match="counts"):
        Trace.read(tmp_path / "lost.jsonl")


def test_unknown_records_are_ignored(trace_builder, tmp_path: Path) -> None:
    lines = trace_builder().build().dumps().splitlines()
    lines.insert(2, json.dumps({"record": "annotation", "by": "a newer exporter"}))
    (tmp_path / "a.jsonl").write_text("\n".join(lines))
    assert Trace.read(tmp_path / "a.jsonl").task["agent"] == "test-agent"
    (tmp_path / "notes.txt").write_text("not a trace")
    assert trace_files(tmp_path) == [tmp_path / "a.jsonl"]
