"""Parallel plan steps: ready steps run as concurrent branches (graphs/branches.py) and join.

The tools come from tests/support/steps_mcp_server.py: `meet` returns only when all the
branches' calls are in flight together (concurrency shown without timing), `slow_step`
logs each effect it makes. Worker scripts are laid out in rounds: in a fan-out of n
branches, branch i (plan order) replays response base + k·n + i for its k-th call.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from steps_mcp_server import server_config

from evals.evaluators.graph import parallel_path
from evals.export import export_trace
from graphs.approval import ApprovalDecision
from graphs.branches import merged_summary, merged_usage
from graphs.runner import TaskRunner
from graphs.spec import AgentSpec, parse_agent_spec

REPO = Path(__file__).resolve().parents[2]
WAKEFUL = [sys.executable, "-m", "server.cli.main"]
MEET, SLOW = "st__meet", "st__slow_step"


def plan(*steps: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "structured": {
            "steps": [
                {"id": step, "description": f"Do {step}", "depends_on": deps}
                for step, deps in steps
            ]
        }
    }


def call(tool: str, **args: Any) -> dict[str, Any]:
    return {"text": f"Calling {tool}.", "tool_calls": [{"name": tool, "args": args}]}


def rounds(*per_round: list[Any]) -> list[Any]:
    """Worker responses from rounds: each round lists one response per branch."""
    return [response for round_ in per_round for response in round_]


def spec_data(
    name: str,
    log: Path,
    worker: list[Any] | dict[str, Any],
    planned: dict[str, Any],
    *,
    parallel: int = 4,
    budgets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "model": {"provider": "scripted", "script": {"planner": [planned], "worker": worker}},
        "mcp_servers": [server_config(log, {"meet": "read", "slow_step": "write"})],
        "tools": {"allow": ["st.meet", "st.slow_step"]},
        "entropy": {"semantic": False},
        "memory": {"episodic": False, "knowledge": False},
        "max_parallel_steps": parallel,
    }
    if budgets:
        data["budgets"] = budgets
    return data


def effects(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)["name"] for line in log.read_text().splitlines()]


def cli(args: list[str], settings: Any, pg_url: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WAKEFUL_CRASH")}
    environ.update(
        WAKEFUL_DATA_DIR=str(settings.data_dir), DATABASE_URL=pg_url, HF_HUB_OFFLINE="1", **env
    )
    return subprocess.run(
        [*WAKEFUL, *args], env=environ, cwd=REPO, capture_output=True, text=True, timeout=240
    )


async def ledger_rows(engine: Any, task_id: str) -> list[tuple[str, str]]:
    async with engine.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tool, status FROM tool_ledger WHERE task_id = %s ORDER BY tool", (task_id,)
        )
        return [(r["tool"], r["status"]) for r in await cur.fetchall()]


async def run_spec(engine: Any, spec: AgentSpec, goal: str = "Do the four steps.") -> Any:
    runner = TaskRunner(engine)
    task = await runner.submit(goal, spec)
    return await asyncio.wait_for(runner.run(task.id), timeout=180)


async def test_two_independent_pairs_run_as_concurrent_branches(engine, events_of, tmp_path):
    log = tmp_path / "steps.jsonl"
    worker = rounds(
        [call(MEET, group="first", parties=2), call(MEET, group="first", parties=2)],
        ["a1 met b1.", "b1 met a1."],
        [call(SLOW, name="a2", seconds=0.1), call(SLOW, name="b2", seconds=0.1)],
        ["a2 done.", "b2 done."],
    )
    planned = plan(("a1", []), ("b1", []), ("a2", ["a1"]), ("b2", ["b1"]))
    spec = parse_agent_spec(spec_data("parallel-pairs", log, worker, planned))
    result = await run_spec(engine, spec)
    assert (result.task.state, result.task.stop_reason) == ("completed", "completed")

    events = await events_of(result.task.id)
    fan_outs = [e.data["steps"] for e in events if e.type == "fan_out"]
    assert fan_outs == [["a1", "b1"], ["a2", "b2"]]
    meets = [e.data for e in events if e.type == "tool_call" and e.data["tool"] == "st.meet"]
    assert [(m["branch"], m["status"]) for m in meets] in (
        [("a1", "ok"), ("b1", "ok")],
        [("b1", "ok"), ("a1", "ok")],
    )  # each met the other: both calls were in flight at once
    # both branches were inside their tools node before either step completed
    first_done = min(e.seq for e in events if e.type == "step_completed")
    entered = {
        e.data["branch"]
        for e in events
        if e.type == "node" and e.data.get("node") == "tools" and e.seq < first_done
    }
    assert entered == {"a1", "b1"}
    completed = [e.data["step"] for e in events if e.type == "step_completed"]
    assert sorted(completed[:2]) == ["a1", "b1"] and sorted(completed[2:]) == ["a2", "b2"]
    assert all("branch" in e.data for e in events if e.type in ("tool_call", "verdict"))
    joins = [e.data for e in events if e.type == "join"]
    assert [[s["status"] for s in j["steps"]] for j in joins] == [["done", "done"]] * 2

    usage = result.task.usage
    assert usage["tool_calls"] == 4 and usage["iterations"] == 8
    assert sorted(effects(log)) == ["a2", "b2"]
    assert await ledger_rows(engine, result.task.id) == [(SLOW, "completed")] * 2
    output = result.task.output or ""
    assert all(f"## {step}" in output for step in ("a1", "b1", "a2", "b2"))
    path = parallel_path(await export_trace(engine, result.task.id))
    assert path[2:7] == ["worker", "branch:a1+b1", "join", "worker", "branch:a2+b2"]


async def test_a_chain_runs_one_step_at_a_time(engine, events_of, tmp_path):
    log = tmp_path / "steps.jsonl"
    worker = [
        call(SLOW, name="s1", seconds=0),
        "s1 done.",
        call(SLOW, name="s2", seconds=0),
        "s2 done.",
    ]
    spec = parse_agent_spec(
        spec_data("parallel-chain", log, worker, plan(("s1", []), ("s2", ["s1"])))
    )
    result = await run_spec(engine, spec)
    assert result.task.state == "completed"
    events = await events_of(result.task.id)
    assert not [e for e in events if e.type in ("fan_out", "join") or "branch" in e.data]
    assert effects(log) == ["s1", "s2"]


async def test_budget_is_the_tasks_and_stops_the_branches(engine, events_of, tmp_path):
    log = tmp_path / "steps.jsonl"
    worker = rounds(
        [call(SLOW, name="a-1", seconds=0.05), call(SLOW, name="b-1", seconds=0.05)],
        [call(SLOW, name="a-2", seconds=0.05), call(SLOW, name="b-2", seconds=0.05)],
        ["a done.", "b done."],
    )
    spec = parse_agent_spec(
        spec_data(
            "parallel-budget",
            log,
            worker,
            plan(("a", []), ("b", [])),
            budgets={"max_tool_calls": 3},
        )
    )
    result = await run_spec(engine, spec)
    assert (result.task.state, result.task.stop_reason) == ("failed", "max_tool_calls")
    assert result.task.usage["tool_calls"] == 3  # four wanted, three allowed, counted once
    assert len(effects(log)) == 3
    events = await events_of(result.task.id)
    exhausted = [e.data for e in events if e.type == "budget_exhausted"]
    assert exhausted and exhausted[0]["budget"] == "max_tool_calls"
    assert exhausted[0]["branch"] in ("a", "b")
    (joined,) = [e.data for e in events if e.type == "join"]
    # whichever branch asked first got the third call and finished; the other was stopped
    outcomes = sorted((s["status"], s["stop_reason"] or "") for s in joined["steps"])
    assert outcomes == [("done", ""), ("pending", "max_tool_calls")]


@pytest.mark.parametrize("stop", ["cancel", "kill_switch"])
async def test_cancel_and_kill_switch_reach_every_branch(engine, events_of, stop):
    worker = {
        "responses": [
            {"text": "Looking.", "tool_calls": [{"name": "load_average"}], "latency_seconds": 0.05}
        ],
        "cycle": True,
    }
    spec = parse_agent_spec(
        {
            "name": "parallel-cancel",
            "model": {
                "provider": "scripted",
                "script": {"planner": [plan(("a", []), ("b", []))], "worker": worker},
            },
            "tools": {"allow": ["load_average"]},
            "entropy": {
                "semantic": False,
                "repeat_threshold": 10_000,
                "alternation_repeats": 5_000,
            },
            "budgets": {"max_iterations": 10_000, "max_tool_calls": 10_000},
            "memory": {"episodic": False, "knowledge": False},
            "max_parallel_steps": 2,
        }
    )
    runner = TaskRunner(engine)
    tenant = f"parallel-{uuid.uuid4().hex[:6]}"  # the kill switch stops this tenant's tasks
    task = await runner.submit("watch forever, twice", spec, tenant=tenant)
    running = asyncio.create_task(runner.run(task.id))
    deadline = asyncio.get_running_loop().time() + 60
    while {e.data.get("branch") for e in await events_of(task.id) if e.type == "tool_call"} != {
        "a",
        "b",
    }:
        assert asyncio.get_running_loop().time() < deadline, "the branches never both ran"
        await asyncio.sleep(0.02)
    if stop == "cancel":
        await engine.lifecycle.cancel(task.id, by="test")
    else:
        # a row held by a branch writing its step at that moment is skipped, for the next
        # batch to take (see TaskLifecycle.cancel_open): the batches go on until none is left
        stopped = await engine.lifecycle.cancel_open(by="test", tenant=tenant)
        while not stopped and await engine.lifecycle.open_left(tenant=tenant):
            assert asyncio.get_running_loop().time() < deadline, "the task was never stopped"
            stopped = await engine.lifecycle.cancel_open(by="test", tenant=tenant)
        assert [(s.id, s.running) for s in stopped] == [(task.id, True)]
    result = await asyncio.wait_for(running, timeout=60)
    assert (result.task.state, result.task.stop_reason) == ("canceled", "canceled")
    events = await events_of(task.id)
    joins = [e.data for e in events if e.type == "join"]
    assert [sorted((s["step"], s["stop_reason"]) for s in j["steps"]) for j in joins] == [
        [("a", "canceled"), ("b", "canceled")]
    ]


async def test_crash_mid_fan_out_resumes_the_unfinished_branch(engine, settings, pg_url, tmp_path):
    """b's second slow step is done and its events written when the process dies; a had
    finished. The resumed run finishes b without repeating any effect."""
    name = f"parallel-crash-{uuid.uuid4().hex[:6]}"
    log = tmp_path / "steps.jsonl"
    worker = rounds(
        [call(SLOW, name="a-1", seconds=0.1), call(SLOW, name="b-1", seconds=0.1)],
        ["a done.", call(SLOW, name="b-2", seconds=1.0)],
        ["(unused)", "b done."],
    )
    data = spec_data(name, log, worker, plan(("a", []), ("b", [])), parallel=2)
    data["goal"] = "Do a and b."
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    crashed = cli(
        ["run", "--agent", str(path), "--approve", "auto"],
        settings,
        pg_url,
        WAKEFUL_CRASH_AFTER_FLUSH="tools@b#2",
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    assert sorted(effects(log)) == ["a-1", "b-1", "b-2"]
    (task,) = await engine.records.list_tasks(agent=name, limit=1)
    assert task.state == "working"

    finished = cli(["resume", task.id, "--approve", "auto"], settings, pg_url)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    task = await engine.records.get_task(task.id)
    assert task.state == "completed"
    assert sorted(effects(log)) == ["a-1", "b-1", "b-2"]  # nothing ran twice
    assert await ledger_rows(engine, task.id) == [(SLOW, "completed")] * 3
    events = await engine.records.list_events(task.id, limit=10_000)
    assert sorted(e.data["step"] for e in events if e.type == "step_completed") == ["a", "b"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    calls = [e.data["tool_call_id"] for e in events if e.type == "tool_call"]
    assert len(calls) == len(set(calls)) == 3


async def test_approvals_in_two_branches_are_answered_one_at_a_time(engine, events_of, tmp_path):
    log = tmp_path / "steps.jsonl"
    worker = rounds(
        [call(SLOW, name="a", seconds=0), call(SLOW, name="b", seconds=0)],
        ["a done.", "b done."],
    )
    data = spec_data("parallel-approvals", log, worker, plan(("a", []), ("b", [])))
    data["tools"]["policies"] = {"st.slow_step": "approval"}
    spec = parse_agent_spec(data)
    runner = TaskRunner(engine)
    task = await runner.submit("Do a and b, with approval.", spec)
    waiting = await asyncio.wait_for(runner.run(task.id), timeout=180)
    assert waiting.waiting and sorted(i["step"] for i in waiting.interrupts) == ["a", "b"]
    assert effects(log) == []

    second = next(i for i in waiting.interrupts if i["step"] == "b")
    approve = ApprovalDecision(action="approve", decided_by="test")
    answered = await runner.run(task.id, decision=approve, interrupt_id=second["id"])
    assert answered.waiting and [i["step"] for i in answered.interrupts] == ["a"]
    assert effects(log) == ["b"]  # b ran; a still waits

    done = await runner.run(task.id, decision=approve, interrupt_id=answered.interrupts[0]["id"])
    assert (done.task.state, done.task.stop_reason) == ("completed", "completed")
    assert sorted(effects(log)) == ["a", "b"]
    events = await events_of(task.id)
    decided = [e.data["tool_call_id"] for e in events if e.type == "approval_decided"]
    assert len(decided) == len(set(decided)) == 2
    assert sorted(e.data["step"] for e in events if e.type == "step_completed") == ["a", "b"]


def test_the_join_adds_the_branches_spends_once() -> None:
    base = {
        "iterations": 1,
        "tool_calls": 0,
        "tokens": 10,
        "active_seconds": 1.0,
        "started_at": 5.0,
        "model_calls": {"planner": 1, "worker": 2},
    }
    spent = [
        {
            "iterations": 2,
            "tool_calls": 1,
            "tokens": 5,
            "active_seconds": 3.0,
            "model_calls": {"worker": 2, "critic": 1},
        },
        {
            "iterations": 3,
            "tool_calls": 2,
            "tokens": 7,
            "active_seconds": 2.0,
            "model_calls": {"worker": 3, "critic": 1},
        },
    ]
    results = [{"spent": s} for s in spent]
    merged = merged_usage(base, results, frozenset({"worker"}))  # type: ignore[arg-type]
    assert {k: merged[k] for k in ("iterations", "tool_calls", "tokens", "started_at")} == {
        "iterations": 6,
        "tool_calls": 3,
        "tokens": 22,
        "started_at": 5.0,
    }
    assert merged["active_seconds"] == 4.0  # the longest branch: they ran together
    # scripted worker: past the fan-out's last round (2 branches x 3 rounds); critic: a count
    assert merged["model_calls"] == {"planner": 1, "worker": 2 + 2 * 3, "critic": 2}
    summaries = [
        {"step": "a", "summary": "S\nReset 1: stopped a loop."},
        {"step": "b", "summary": "Compacted."},
        {"step": "c", "summary": "S"},
    ]
    assert merged_summary("S", summaries) == "S\nReset 1: stopped a loop.\n[b] Compacted."
