"""PII masking: the recognisers (with their checksums), the Postgres vault (stable
placeholders per task, restored in arguments), and a real run where the model only ever
sees placeholders while the tools get the values, and events carry counts only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import ToolMessage
from psycopg_pool import AsyncConnectionPool

from graphs.runner import TaskRunner
from graphs.spec import parse_agent_spec
from stack.migrate import apply_migrations
from tools.pii import find_pii, iban_ok, luhn_ok
from tools.pii_vault import PiiVault

EMAIL, CARD = "ana.silva@example.com", "4111 1111 1111 1111"
SAMPLE = (
    f"Mail {EMAIL} or call +44 20 7946 0958 / (555) 123-4567. Card {CARD}, "
    "IBAN GB82 WEST 1234 5698 7654 32, key sk-proj-abcdefghijklmnopqrstuvwx1234 and "
    "AKIAIOSFODNN7EXAMPLE, password: hunter2hunter2, host 10.0.0.12 and fe80::1"
)


def kinds_of(text: str) -> list[tuple[str, str]]:
    return [(m.kind, m.value) for m in find_pii(text)]


def test_each_kind_is_recognised() -> None:
    assert kinds_of(SAMPLE) == [
        ("EMAIL", EMAIL),
        ("PHONE", "+44 20 7946 0958"),
        ("PHONE", "(555) 123-4567"),
        ("CARD", CARD),
        ("IBAN", "GB82 WEST 1234 5698 7654 32"),
        ("SECRET", "sk-proj-abcdefghijklmnopqrstuvwx1234"),
        ("SECRET", "AKIAIOSFODNN7EXAMPLE"),
        ("SECRET", "hunter2hunter2"),
        ("IP", "10.0.0.12"),
        ("IP", "fe80::1"),
    ]


def test_checksums_reject_lookalikes() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE89370400440532013001")
    assert kinds_of("order 4111 1111 1111 1112 and DE89370400440532013001") == []


def test_ordinary_numbers_are_left_alone() -> None:
    text = (
        "version 1.2.3 released 2026-12-01 12:30:00, pid 12345678, load 0.52 0.48, "
        "ts 1733050000, 999.1.1.1, password reset instructions, uptime 3:04:05"
    )
    assert kinds_of(text) == []


def test_a_secret_holding_an_address_is_one_secret() -> None:
    assert kinds_of("token=ana.silva@example.com-xyz") == [("SECRET", "ana.silva@example.com-xyz")]


@pytest.fixture
async def vault(pg_url: str, pg_pool: AsyncConnectionPool) -> PiiVault:
    await apply_migrations(pg_url)
    return PiiVault(pg_pool)


async def new_task(pool: AsyncConnectionPool) -> str:
    task_id = f"pii-{uuid.uuid4().hex[:10]}"
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO tasks (id, agent, goal) VALUES (%s, 'pii-test', 'g')", (task_id,)
        )
    return task_id


async def test_placeholders_are_stable_per_task(vault: PiiVault, pg_pool) -> None:
    task, other = await new_task(pg_pool), await new_task(pg_pool)
    first = await vault.mask(task, f"{EMAIL} and bob@example.org and {EMAIL} again")
    assert first.text == "<EMAIL_1> and <EMAIL_2> and <EMAIL_1> again"
    assert first.counts == {"EMAIL": 3}
    later = await vault.mask(task, f"from bob@example.org, card {CARD}")
    assert later.text == "from <EMAIL_2>, card <CARD_1>"
    elsewhere = await vault.mask(other, "bob@example.org")
    assert elsewhere.text == "<EMAIL_1>"  # numbered per task
    only_cards = await vault.mask(task, f"{EMAIL} {CARD}", ("CARD",))
    assert only_cards.text == f"{EMAIL} <CARD_1>" and only_cards.counts == {"CARD": 1}


async def test_placeholders_in_arguments_are_restored(vault: PiiVault, pg_pool) -> None:
    task = await new_task(pg_pool)
    await vault.mask(task, f"{EMAIL} {CARD}")
    args = {"to": "<EMAIL_1>", "lines": ["card <CARD_1>", "<EMAIL_9> unknown"], "n": 3}
    restored, count = await vault.unmask(task, args)
    assert restored == {"to": EMAIL, "lines": [f"card {CARD}", "<EMAIL_9> unknown"], "n": 3}
    assert count == 2
    other = await new_task(pg_pool)
    assert await vault.unmask(other, {"to": "<EMAIL_1>"}) == ({"to": "<EMAIL_1>"}, 0)


async def test_the_vault_goes_with_its_task(vault: PiiVault, pg_pool) -> None:
    task = await new_task(pg_pool)
    await vault.mask(task, EMAIL)
    count = "SELECT count(*) AS n FROM pii_vault WHERE task_id = %s"
    async with pg_pool.connection() as conn:
        assert await (await conn.execute(count, (task,))).fetchone() == {"n": 1}
        await conn.execute("DELETE FROM tasks WHERE id = %s", (task,))
        assert await (await conn.execute(count, (task,))).fetchone() == {"n": 0}


ONE_STEP = {"structured": {"steps": [{"id": "s", "description": "Find the contact"}]}}


def calls(name: str, args: dict[str, Any]) -> dict[str, Any]:
    return {"text": "Calling.", "tool_calls": [{"name": name, "args": args}]}


def masking_agent(enabled: bool = True) -> Any:
    worker = [
        # The model writes neither value: the tool's output is their only source.
        calls(
            "run_python",
            {
                "code": "print('Contact ana.silva' + chr(64) + 'example.com, "
                "card 4111 ' + ' '.join(['1111'] * 3))"
            },
        ),
        calls("run_shell", {"script": "echo '<EMAIL_1>' > mailto.txt; echo saved"}),
        "Saved the contact.",
    ]
    return parse_agent_spec(
        {
            "name": f"pii-{uuid.uuid4().hex[:6]}",
            "model": {"provider": "scripted", "script": {"planner": [ONE_STEP], "worker": worker}},
            "tools": {"allow": ["run_python", "run_shell"]},
            "entropy": {"semantic": False},
            "pii": {"enabled": enabled},
        }
    )


async def test_the_model_sees_placeholders_and_the_tools_see_values(
    mcp_engine: Any, graph_settings: Any
) -> None:
    runner = TaskRunner(mcp_engine)
    task = await runner.submit("Save the contact's address.", masking_agent())
    result = await runner.run(task.id)
    assert result.task.state == "completed"

    snapshot = await mcp_engine.graph.aget_state({"configurable": {"thread_id": task.id}})
    seen = json.dumps([m.model_dump() for m in snapshot.values["messages"]], default=str)
    assert EMAIL not in seen and CARD not in seen
    first, second = [m for m in snapshot.values["messages"] if isinstance(m, ToolMessage)]
    assert "Contact <EMAIL_1>, card <CARD_1>" in str(first.content)
    assert "saved" in str(second.content)
    scratch = Path(graph_settings.data_dir) / "sandbox" / task.id
    assert (scratch / "mailto.txt").read_text().strip() == EMAIL

    events = await mcp_engine.records.list_events(task.id, limit=10_000)
    logged = json.dumps([e.data for e in events], default=str)
    assert EMAIL not in logged and CARD not in logged
    tool_calls = [e.data for e in events if e.type == "tool_call"]
    assert [c["pii"] for c in tool_calls] == [
        {"restored": 0, "masked": {"EMAIL": 1, "CARD": 1}},
        {"restored": 1, "masked": {}},
    ]


async def test_masking_is_off_by_default(mcp_engine: Any) -> None:
    assert parse_agent_spec({"name": "plain"}).pii.enabled is False
    runner = TaskRunner(mcp_engine)
    task = await runner.submit("Save the contact's address.", masking_agent(enabled=False))
    await runner.run(task.id)
    snapshot = await mcp_engine.graph.aget_state({"configurable": {"thread_id": task.id}})
    first = next(m for m in snapshot.values["messages"] if isinstance(m, ToolMessage))
    assert EMAIL in str(first.content)
    events = await mcp_engine.records.list_events(task.id, limit=10_000)
    assert all("pii" not in e.data for e in events if e.type == "tool_call")
