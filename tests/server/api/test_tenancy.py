"""Tenants and tokens over /admin and the CLI, and the two-tenant matrix of the kill switch
and metrics: an installation admin has the global switch and every tenant's figures; a
tenant's admin has its tenant's switch and figures, and sees nothing of another tenant."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from wakeful_servers import server_env

pytestmark = pytest.mark.slow

ROOT = "local/installation-admin"


async def test_only_installation_admins_manage_tenants_and_tokens(api):
    root, admin = api.client(ROOT), api.client("acme/admin")
    for method, path in (("GET", "/admin/tenants"), ("GET", "/admin/tokens")):
        assert (await admin.request(method, path)).status_code == 403
    assert (await admin.post("/admin/tenants", json={"id": "sneaky"})).status_code == 403

    created = await root.post("/admin/tenants", json={"id": "initech"})
    assert created.status_code == 201, created.text
    assert (await root.post("/admin/tenants", json={"id": "initech"})).status_code == 409
    assert (await root.post("/admin/tenants", json={"id": "Bad Id"})).status_code == 422
    assert "initech" in [t["id"] for t in (await root.get("/admin/tenants")).json()]

    missing = await root.post(
        "/admin/tokens", json={"tenant": "nobody", "role": "submitter", "name": "x"}
    )
    assert missing.status_code == 404 and "nobody" in missing.json()["detail"]
    naive = await root.post(
        "/admin/tokens",
        json={"tenant": "initech", "role": "submitter", "name": "x",
              "expires_at": "2999-01-01T00:00:00"},
    )
    assert naive.status_code == 422

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    issued = await root.post(
        "/admin/tokens",
        json={"tenant": "initech", "role": "submitter", "name": "bot", "expires_at": later},
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    bot = api.client(None)
    bot.headers["Authorization"] = f"Bearer {body['token']}"
    assert (await bot.get("/tasks")).status_code == 200
    listed = (await root.get("/admin/tokens", params={"tenant": "initech"})).json()
    assert [t["name"] for t in listed] == ["bot"] and "token" not in listed[0]

    assert (await root.delete(f"/admin/tokens/{body['id']}")).status_code == 204
    assert (await bot.get("/tasks")).status_code == 401
    assert (await root.delete(f"/admin/tokens/{body['id']}")).status_code == 404


async def test_an_expired_token_authenticates_nobody(api):
    token, _ = await api.services.auth.issue_token(
        "acme", "submitter", "stale", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    client = api.client(None)
    client.headers["Authorization"] = f"Bearer {token}"
    assert (await client.get("/tasks")).status_code == 401


async def test_a_tenant_admin_stops_only_its_own_tenant(api, eventually):
    acme, globex, root = api.client("acme/admin"), api.client("globex/admin"), api.client(ROOT)
    refused = await acme.post("/killswitch", json={"on": True, "scope": "installation"})
    assert refused.status_code == 403 and "installation-admin" in refused.json()["detail"]

    waiting = (await acme.post("/tasks", json={"goal": "s", "agent": "slow"})).json()["id"]
    switched = await acme.post("/killswitch", json={"on": True})
    try:
        assert switched.status_code == 200, switched.text
        body = switched.json()
        assert body["on"] is True and body["installation"]["on"] is False
        assert body["tenant"]["changed_by"] == "acme/acme-admin"

        async def canceled():
            return (await acme.get(f"/tasks/{waiting}")).json()["state"] == "canceled"

        # a running task ends at its next node boundary: on a busy machine that can take a while
        await eventually(canceled, timeout=120, what="acme's task canceled by its kill switch")
        refused = await acme.post("/tasks", json={"goal": "no", "agent": "quick"})
        assert refused.status_code == 409 and "kill switch" in refused.json()["detail"]

        theirs = (await globex.get("/killswitch")).json()
        assert theirs["on"] is False and theirs["tenant"]["changed_by"] is None
        # globex has no agents of its own: the default agent runs its task
        assert (await globex.post("/tasks", json={"goal": "fine"})).status_code == 202
    finally:
        assert (await acme.post("/killswitch", json={"on": False})).status_code == 200

    flipped = await root.post("/killswitch", json={"on": True, "scope": "installation"})
    try:
        assert flipped.status_code == 200 and flipped.json()["installation"]["on"] is True
        seen = (await globex.get("/killswitch")).json()
        # a tenant sees that the installation is stopped, not who stopped it
        assert seen["on"] is True and seen["installation"]["changed_by"] is None
        assert (await root.get("/killswitch")).json()["installation"]["changed_by"]
        assert (await globex.post("/tasks", json={"goal": "no"})).status_code == 409
    finally:
        off = await root.post("/killswitch", json={"on": False, "scope": "installation"})
    assert off.status_code == 200 and off.json()["on"] is False


async def test_metrics_are_scoped_to_the_callers_tenant(api, eventually):
    await api.client("globex/admin").post("/tasks", json={"goal": "count me"})
    await api.client("acme/submitter").post("/tasks", json={"goal": "me too", "agent": "quick"})

    async def both_counted():
        text = (await api.client(ROOT).get("/metrics")).text
        return text if 'tenant="globex"' in text and 'tenant="acme"' in text else None

    everything = await eventually(both_counted, timeout=60, what="both tenants in metrics")
    assert "# TYPE wakeful_queue_depth gauge" in everything

    acme = (await api.client("acme/admin").get("/metrics")).text
    assert 'tenant="acme"' in acme and "globex" not in acme
    assert "wakeful_queue_depth{" not in acme
    assert (await api.client("acme/approver").get("/metrics")).status_code == 403


def wakeful(api_db, *args: str) -> subprocess.CompletedProcess:
    url, data_dir = api_db
    return subprocess.run(
        [sys.executable, "-m", "server.cli.main", *args],
        env={**server_env(url, data_dir), "COLUMNS": "250"},
        capture_output=True, text=True, timeout=120, check=False,
    )


async def test_tenant_and_token_commands(api, api_db):
    created = wakeful(api_db, "tenant", "create", "umbrella")
    assert created.returncode == 0, created.stderr
    again = wakeful(api_db, "tenant", "create", "umbrella")
    assert again.returncode != 0 and "exists already" in again.stderr
    assert "umbrella" in wakeful(api_db, "tenant", "list").stdout

    bad_role = wakeful(api_db, "token", "create", "--tenant", "umbrella", "--role", "owner")
    assert bad_role.returncode == 2 and "--role" in bad_role.stderr
    bad_expiry = wakeful(api_db, "token", "create", "--tenant", "umbrella", "--role",
                         "submitter", "--expires", "soon")
    assert bad_expiry.returncode == 2 and "--expires" in bad_expiry.stderr
    no_tenant = wakeful(api_db, "token", "create", "--tenant", "nobody", "--role", "submitter")
    assert no_tenant.returncode != 0 and "nobody" in no_tenant.stderr

    made = wakeful(api_db, "token", "create", "--tenant", "umbrella", "--role", "approver",
                   "--name", "ops", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert token.startswith("wk_")
    client = api.client(None)
    client.headers["Authorization"] = f"Bearer {token}"
    assert (await client.get("/tasks")).status_code == 200

    listed = wakeful(api_db, "token", "list", "--tenant", "umbrella")
    [row] = [line for line in listed.stdout.splitlines() if "ops" in line]
    token_id = row.split("│")[1].strip()
    revoked = wakeful(api_db, "token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    assert (await client.get("/tasks")).status_code == 401
    assert "ops" not in wakeful(api_db, "token", "list", "--tenant", "umbrella").stdout
