"""`wakeful memory show|forget` against the real stores (in-process: Qdrant local mode is
single-process and the test session holds it)."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from memory.episode import NewEpisode
from memory.episodic import EpisodicMemory
from memory.facts import EntityRef, FactInput
from memory.knowledge_graph import KnowledgeGraph
from server.cli.main import app


@pytest.fixture
def cli_env(monkeypatch, settings, pg_url):
    monkeypatch.setenv("WAKEFUL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("COLUMNS", "200")


def test_show_and_forget(cli_env, qdrant_client, graph_endpoint) -> None:
    agent = f"cli-{uuid.uuid4().hex[:6]}"
    episodes = EpisodicMemory(qdrant_client)
    written = episodes.write_many([
        NewEpisode(tenant="local", agent=agent, text="db-1 ran out of disk space"),
        NewEpisode(tenant="local", agent=agent, text="the nightly backup took four hours"),
    ])
    with KnowledgeGraph.from_endpoint(graph_endpoint) as graph:
        [upsert] = graph.upsert_facts("local", agent, [FactInput(
            subject=EntityRef(name="db-1", type="host"), predicate="stores",
            object=EntityRef(name="orders", type="database"), fact="db-1 stores orders")])
    runner = CliRunner()

    shown = runner.invoke(app, ["memory", "show", agent])
    assert shown.exit_code == 0, shown.output
    assert "db-1 ran out of disk space" in shown.output
    assert "db-1 stores orders" in shown.output

    ranked = runner.invoke(app, ["memory", "show", agent, "--tier", "l3", "--query", "backup"])
    assert "nightly backup" in ranked.output
    assert "disk space" not in ranked.output  # below the relevance floor for "backup"

    bad = runner.invoke(app, ["memory", "forget", agent])
    assert bad.exit_code == 2 and "exactly one of --episode" in bad.output

    gone = runner.invoke(app, ["memory", "forget", agent, "--episode", written[0].episode_id])
    assert gone.exit_code == 0, gone.output
    assert episodes.count("local", agent) == 1
    missing = runner.invoke(app, ["memory", "forget", agent, "--episode", written[0].episode_id])
    assert missing.exit_code == 4

    forgot = runner.invoke(app, ["memory", "forget", agent, "--fact", upsert.fact_id])
    assert forgot.exit_code == 0, forgot.output
    after = runner.invoke(app, ["memory", "show", agent, "--tier", "l4"])
    assert "db-1 stores orders" not in after.output

    everything = runner.invoke(app, ["memory", "forget", agent, "--all"])
    assert everything.exit_code == 0, everything.output
    assert episodes.count("local", agent) == 0
    assert episodes.search("local", agent, "disk space", touch=False) == []
    # this store still believed in the dropped collection: a write recreates it
    episodes.write(NewEpisode(tenant="local", agent=agent, text="a fresh start"))
    assert episodes.count("local", agent) == 1
    episodes.drop("local", agent)
