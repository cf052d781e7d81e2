"""Bearer tokens: one tenant and one role each, only their sha256 stored, and the local
admin token created once for the embedded default."""

from __future__ import annotations

import hashlib
import stat

import pytest

from stack.errors import ConfigError, Forbidden, NotFound


async def test_a_token_authenticates_as_its_tenant_and_role(rt):
    token = await rt.auth.create_token("acme", "approver", "ci")
    principal = await rt.auth.authenticate(token)
    assert (principal.tenant, principal.role, principal.token_name) == ("acme", "approver", "ci")
    assert principal.allows("submitter") and principal.allows("approver")
    assert not principal.allows("admin")
    with pytest.raises(Forbidden, match="admin"):
        principal.require("admin")
    assert await rt.auth.authenticate(token + "x") is None
    assert await rt.auth.authenticate("") is None
    assert await rt.auth.authenticate("Bearer " + token) is None


async def test_only_the_sha256_of_a_token_is_stored(rt):
    token = await rt.auth.create_token("acme", "submitter", "bot")
    async with rt.engine.pool.connection() as conn:
        rows = await (await conn.execute("SELECT * FROM api_tokens")).fetchall()
    [row] = rows
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in {str(v) for v in row.values()}


async def test_a_revoked_token_no_longer_authenticates(rt):
    token = await rt.auth.create_token("acme", "admin", "old")
    await rt.auth.revoke("acme", "old")
    assert await rt.auth.authenticate(token) is None
    with pytest.raises(NotFound):
        await rt.auth.revoke("acme", "old")


async def test_bad_token_requests_are_config_errors(rt):
    with pytest.raises(ConfigError, match="role"):
        await rt.auth.create_token("acme", "owner", "x")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        await rt.auth.create_token("", "admin", "x")


async def test_the_local_admin_token_is_made_once(rt, tmp_path):
    path = await rt.auth.ensure_local_admin(tmp_path)
    assert path == tmp_path / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    principal = await rt.auth.authenticate(token)
    assert (principal.tenant, principal.role) == ("local", "installation-admin")
    assert await rt.auth.ensure_local_admin(tmp_path) == path
    assert path.read_text().strip() == token  # not replaced
    path.write_text("wk_stale\n")  # e.g. the database was reset: a new token is made
    await rt.auth.ensure_local_admin(tmp_path)
    assert await rt.auth.authenticate(path.read_text().strip()) is not None
