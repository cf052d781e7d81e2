"""The statement triggers under every write of events and task rows (tasks' is one since
migration 0011, returning at once when no state changed): a node step's write (events,
last_seq, usage; no state change) notifies the live feed and counts what it adds, and
writes nothing else; state changes, one task or a batch, move the tasks gauge and fill the
push outbox exactly, once per change and config."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from wakeful_servers import own_database

from stack.migrate import apply_migrations

APPEND = "SELECT * FROM wakeful_append_events(%s, %s::text[], %s::jsonb[], %s::text[], %s, %s)"
COUNTED_FROM_ROWS = """
SELECT 'tasks' AS metric, tenant, agent, state AS label1, '' AS label2, count(*)::numeric AS n
FROM tasks GROUP BY 2, 3, 4
UNION ALL
SELECT m.metric, t.tenant, t.agent, m.label1, m.label2, sum(m.n)
FROM events e JOIN tasks t ON t.id = e.task_id
CROSS JOIN LATERAL wakeful_event_metrics(e.type, e.data) AS m
GROUP BY 1, 2, 3, 4, 5
"""


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[str]:
    with own_database(pg_url, "wk_trig") as url:
        await apply_migrations(url)
        yield url


@pytest.fixture
def conn(db: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(db, autocommit=True, row_factory=dict_row) as c:
        yield c


def _task(
    conn: psycopg.Connection[Any], *, configs: int = 0, claim: bool = True
) -> tuple[str, int]:
    """A task (with `configs` push configs), claimed by a run unless told not to."""
    task = f"t-{uuid.uuid4()}"
    conn.execute(
        "SELECT id FROM wakeful_create_task(%s, 'local', 'trig-agent', 'a goal', '{}', '{}')",
        (task,),
    )
    for index in range(configs):
        conn.execute(
            "INSERT INTO a2a_push_configs (task_id, id, tenant, url) VALUES (%s, %s, 'local', %s)",
            (task, f"c{index}", f"http://127.0.0.1:9/{index}"),
        )
    epoch = 0
    if claim:
        row = conn.execute(
            "SELECT lease_epoch FROM wakeful_claim(%s, 'test-run', 60)", (task,)
        ).fetchone()
        assert row is not None
        epoch = row["lease_epoch"]
    return task, epoch


def _counters(conn: psycopg.Connection[Any]) -> dict[tuple[str, ...], Any]:
    rows = conn.execute(
        "SELECT metric, tenant, agent, label1, label2, n FROM metric_counts WHERE n <> 0"
    ).fetchall()
    return {(r["metric"], r["tenant"], r["agent"], r["label1"], r["label2"]): r["n"] for r in rows}


def _exact(conn: psycopg.Connection[Any]) -> None:
    """The counters say what the rows say."""
    rows = conn.execute(COUNTED_FROM_ROWS).fetchall()
    expected = {
        (r["metric"], r["tenant"], r["agent"], r["label1"], r["label2"]): r["n"]
        for r in rows
        if r["n"]
    }
    assert _counters(conn) == expected


def _count(conn: psycopg.Connection[Any], table: str) -> int:
    row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
    assert row is not None
    return int(row["n"])


def _outbox(conn: psycopg.Connection[Any]) -> list[tuple[str, str, str]]:
    rows = conn.execute("SELECT task_id, config_id, state FROM a2a_push_outbox ORDER BY id")
    return [(r["task_id"], r["config_id"], r["state"]) for r in rows.fetchall()]


def test_a_node_step_notifies_and_counts_its_events_and_writes_nothing_else(
    db: str, conn: psycopg.Connection[Any]
) -> None:
    task, epoch = _task(conn, configs=2)
    outbox, counters = _outbox(conn), _counters(conn)
    with psycopg.connect(db, autocommit=True) as listener:
        listener.execute("LISTEN wakeful_events")
        with conn.transaction():  # as the checkpointer writes a node step
            [row] = conn.execute(
                APPEND,
                (
                    task,
                    ["node", "model_call", "tool_call"],
                    [
                        Jsonb({"node": "worker"}),
                        Jsonb({"role": "worker", "tokens": 42}),
                        Jsonb({"tool": "load_average", "status": "ok"}),
                    ],
                    ["5:worker#0", "model:worker:0", "tool:call-1"],
                    epoch,
                    Jsonb({"tokens": 42}),
                ),
            ).fetchall()
        [note] = list(listener.notifies(timeout=30, stop_after=1))
    assert note.payload == f"{task}:{row['seq']}" and row["lease_lost"] is False
    assert _outbox(conn) == outbox  # no state changed: nothing to push
    added = {
        k: v - counters.get(k, 0) for k, v in _counters(conn).items() if v != counters.get(k, 0)
    }
    assert added == {
        ("model_calls", "local", "trig-agent", "worker", ""): 1,
        ("tokens", "local", "trig-agent", "worker", ""): 42,
        ("tool_calls", "local", "trig-agent", "load_average", "ok"): 1,
    }
    _exact(conn)


def test_a_batch_with_nothing_to_count_or_usage_alone_adds_no_counter_rows(
    db: str, conn: psycopg.Connection[Any]
) -> None:
    task, epoch = _task(conn, configs=1)
    deltas, outbox = _count(conn, "metric_deltas"), _outbox(conn)
    with psycopg.connect(db, autocommit=True) as listener:
        listener.execute("LISTEN wakeful_events")
        [row] = conn.execute(
            APPEND, (task, ["node"], [Jsonb({"node": "entropy_monitor"})], ["6:em#0"], epoch, None)
        ).fetchall()
        [note] = list(listener.notifies(timeout=30, stop_after=1))
        assert note.payload == f"{task}:{row['seq']}"
        conn.execute(APPEND, (task, [], [], [], epoch, Jsonb({"tokens": 7})))
        usage = conn.execute("SELECT usage, last_seq FROM tasks WHERE id = %s", (task,))
        assert usage.fetchone() == {"usage": {"tokens": 7}, "last_seq": row["seq"]}
        conn.execute("SELECT pg_notify('wakeful_events', 'marker')")
        [marker] = list(listener.notifies(timeout=30, stop_after=1))
        assert marker.payload == "marker"  # the usage-only write notified nothing before it
    assert _count(conn, "metric_deltas") == deltas and _outbox(conn) == outbox
    _exact(conn)


def test_state_changes_move_the_gauge_and_are_pushed_once_per_config(
    conn: psycopg.Connection[Any],
) -> None:
    task, epoch = _task(conn, configs=2)
    assert _outbox(conn) == [(task, "c0", "working"), (task, "c1", "working")]
    conn.execute("SELECT id FROM wakeful_transition(%s, 'completed', p_epoch => %s)", (task, epoch))
    assert _outbox(conn)[2:] == [(task, "c0", "completed"), (task, "c1", "completed")]
    counters = _counters(conn)
    assert counters[("tasks", "local", "trig-agent", "completed", "")] == 1
    assert ("tasks", "local", "trig-agent", "working", "") not in counters
    _exact(conn)


def test_a_batch_update_counts_and_pushes_only_the_rows_whose_state_changed(
    conn: psycopg.Connection[Any],
) -> None:
    running = [_task(conn, configs=1)[0] for _ in range(2)]  # claimed: flagged, not ended
    queued = [_task(conn, configs=2, claim=False)[0] for _ in range(3)]
    before = _outbox(conn)
    stopped = conn.execute("SELECT task_id, running FROM wakeful_cancel_open('test')").fetchall()
    assert {r["task_id"] for r in stopped if r["running"]} == set(running)
    pushed = _outbox(conn)[len(before) :]
    assert pushed == [(t, c, "canceled") for t in sorted(queued) for c in ("c0", "c1")]
    counters = _counters(conn)
    assert counters[("tasks", "local", "trig-agent", "canceled", "")] == 3
    assert counters[("tasks", "local", "trig-agent", "working", "")] == 2
    _exact(conn)
