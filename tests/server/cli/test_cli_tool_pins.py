"""`wakeful tool pins list|approve` on the settings every command uses: with no
DATABASE_URL it works on the embedded database (the old `python -m tools.mcp.pinning`
demanded DATABASE_URL), and digests are accepted by the start shown in the list."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from mcp.types import Tool as MCPTool
from typer.testing import CliRunner

from server.cli.main import app
from stack.migrate import apply_migrations
from stack.postgres import open_pool
from tools.mcp.pinning import PinStore


@pytest.fixture
def cli_env(monkeypatch, settings, pg_url):
    monkeypatch.setenv("WAKEFUL_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("DATABASE_URL", settings.database_url)
    else:  # the session's embedded Postgres, found from the data dir as a new user would
        monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


async def _pending_pin(url: str, server: str) -> str:
    await apply_migrations(url)
    pool = await open_pool(url)
    try:
        tool = MCPTool(name="lookup", description="Look a word up.", inputSchema={"type": "object"})
        pin = await PinStore(pool).check(server, tool, mode="manual")
    finally:
        await pool.close()
    assert not pin.approved
    return pin.digest


def test_list_and_approve_by_digest_prefix(cli_env, pg_url) -> None:
    server = f"dict-{uuid.uuid4().hex[:6]}"
    digest = asyncio.run(_pending_pin(pg_url, server))
    runner = CliRunner()

    pending = runner.invoke(app, ["tool", "pins", "list", "--pending", "--server", server])
    assert pending.exit_code == 0, pending.output
    assert f"{server}.lookup" in pending.output and digest[:12] in pending.output
    assert "pending" in pending.output

    approved = runner.invoke(app, ["tool", "pins", "approve", server, "lookup", digest[:8],
                                   "--by", "alice"])
    assert approved.exit_code == 0, approved.output
    assert f"approved {server}.lookup {digest} by alice" in " ".join(approved.output.split())
    after = runner.invoke(app, ["tool", "pins", "list", "--pending", "--server", server])
    assert f"{server}.lookup" not in after.output

    unknown = runner.invoke(app, ["tool", "pins", "approve", server, "lookup", "ffff"])
    assert unknown.exit_code == 4 and "no digest of" in unknown.output
