"""`wakeful killswitch --tenant T`: a tenant's own switch from the terminal, beside the
global one; it stops that tenant only, and an unknown tenant is named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from wakeful_servers import own_database, server_env

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.slow


def wakeful(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "server.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_a_tenants_kill_switch_stops_that_tenant_only(pg_url: str, tmp_path: Path) -> None:
    with own_database(pg_url, "wk_ks") as url:
        env = {**server_env(url, tmp_path / "data"), "COLUMNS": "200"}
        for tenant in ("acme", "umbrella"):
            assert wakeful(env, "tenant", "create", tenant).returncode == 0

        on = wakeful(env, "killswitch", "on", "--tenant", "acme", "--by", "test")
        assert on.returncode == 0, on.stderr
        assert "tenant acme's kill switch ON" in on.stdout

        status = wakeful(env, "killswitch", "status", "--tenant", "acme").stdout
        assert "kill switch off" in status  # the global one
        assert "tenant acme's kill switch ON" in status and "by test" in status
        assert "tenant acme is stopped" in status
        other = wakeful(env, "killswitch", "status", "--tenant", "umbrella").stdout
        assert "tenant umbrella is running" in other
        assert "ON" not in wakeful(env, "killswitch", "status").stdout

        refused = wakeful(env, "task", "send", "Anything", "--tenant", "acme")
        assert refused.returncode == 1 and "kill switch is on" in refused.stderr
        queued = wakeful(env, "task", "send", "Anything", "--tenant", "umbrella")
        assert queued.returncode == 0, queued.stderr

        off = wakeful(env, "killswitch", "off", "--tenant", "acme")
        assert off.returncode == 0 and "tenant acme's kill switch off" in off.stdout
        assert (
            "tenant acme is running"
            in wakeful(env, "killswitch", "status", "--tenant", "acme").stdout
        )

        unknown = wakeful(env, "killswitch", "on", "--tenant", "nobody")
        assert unknown.returncode == 4 and "no tenant 'nobody'" in unknown.stderr
