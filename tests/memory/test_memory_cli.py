"""`wakeful memory show|forget` against the real stores (in-process: Qdrant local mode is
single-process and the test session holds it). `forget` takes the shortened ids `show`
prints (`--episode fc20b67`): an unambiguous start of an id is enough."""

from __future__ import annotations

import uuid

import pytest
from typer.testing import CliRunner

from memory.episode import NewEpisode
from memory.episodic import EpisodicMemory
from memory.facts import EntityRef, FactInput
from memory.knowledge_graph import KnowledgeGraph
from server.cli.common import unique_prefix_match
from server.cli.main import app
from stack.errors import ConfigError, NotFound


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


def test_forget_by_id_prefix(cli_env, qdrant_client, graph_endpoint) -> None:
    agent = f"pfx-{uuid.uuid4().hex[:6]}"
    episodes = EpisodicMemory(qdrant_client)
    texts = ["db-1 ran out of disk space", "the nightly backup took four hours",
             "a certificate expires on Friday", "load on web-3 stayed above 8",
             "the queue of invoices grew to 40,000", "kernel 6.8 was rolled out to staging",
             "someone rotated the API keys", "DNS answers for example.org were slow"]
    written = episodes.write_many([NewEpisode(tenant="local", agent=agent, text=t) for t in texts])
    ids = [w.episode_id for w in written]
    stored = episodes.count("local", agent)
    with KnowledgeGraph.from_endpoint(graph_endpoint) as graph:
        [upsert] = graph.upsert_facts("local", agent, [FactInput(
            subject=EntityRef(name="db-2", type="host"), predicate="stores",
            object=EntityRef(name="users", type="database"), fact="db-2 stores users")])
    runner = CliRunner()

    target = ids[0]
    short = next(target[:n] for n in range(4, 36)
                 if not any(other.startswith(target[:n]) for other in ids[1:]))
    gone = runner.invoke(app, ["memory", "forget", agent, "--episode", short])
    assert gone.exit_code == 0, gone.output
    assert f"forgot episode {target}" in gone.output
    assert episodes.count("local", agent) == stored - 1

    empty = runner.invoke(app, ["memory", "forget", agent, "--episode", ""])
    assert empty.exit_code == 2 and "give the episode id of" in empty.output
    missing = runner.invoke(app, ["memory", "forget", agent, "--episode", short])
    assert missing.exit_code == 4 and "starts with" in missing.output

    forgot = runner.invoke(app, ["memory", "forget", agent, "--fact", upsert.fact_id[:8]])
    assert forgot.exit_code == 0, forgot.output
    assert f"forgot fact {upsert.fact_id}" in forgot.output
    assert episodes.count("local", agent) == stored - 1


def test_a_prefix_of_several_ids_is_refused_naming_them() -> None:
    matches = ["fc20b67a-1", "fc20b67b-2"]
    with pytest.raises(ConfigError, match=r"start of several task ids \(fc20b67a-1, fc20b67b-2\)"):
        unique_prefix_match("task id", "fc20b67", matches)
    assert unique_prefix_match("task id", "fc20b67a", ["fc20b67a-1"]) == "fc20b67a-1"
    with pytest.raises(NotFound, match="no task id starts with 'ab'"):
        unique_prefix_match("task id", "ab", [])
