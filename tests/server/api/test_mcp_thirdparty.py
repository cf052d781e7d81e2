"""/mcp driven by third-party MCP clients (npm, see tests/support/npm_tools.py) against this
module's real `wakeful serve`: the MCP Inspector's CLI (initialize, tools/list, tools/call
with the tenant's bearer token; a wrong or missing token refused) and the server scenarios
of the MCP conformance suite (tests/mcp_conformance/: what does not apply is in its
baseline, with the reasons). `make test-mcp` runs this module alone and prints the suite's
results."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from npm_tools import NpmTools, NpmUnavailable, ensure_npm_tools
from serve_checks import scripted_agent

pytestmark = pytest.mark.slow

CONFORMANCE = Path(__file__).resolve().parents[2] / "mcp_conformance"
RUN_TIMEOUT_S = 300
# Scenarios that apply to wakeful and must pass (the suite also fails on any other scenario
# failing that its baseline does not list).
APPLICABLE = {
    "server-initialize",
    "ping",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-error",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
}
PASSING = {"SUCCESS", "INFO", "WARNING"}


@pytest.fixture(scope="module")
def npm() -> NpmTools:
    try:
        return ensure_npm_tools()
    except NpmUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def client_home(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The Inspector keeps a catalog and client state in $HOME: a throwaway one."""
    home = tmp_path_factory.mktemp("inspector-home")
    return {
        "HOME": str(home),
        "MCP_CATALOG_PATH": str(home / "mcp.json"),
        "MCP_CLIENT_CONFIG_PATH": str(home / "client.json"),
    }


async def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        command,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


async def inspect(
    npm: NpmTools, api: Any, home: dict[str, str], token: str | None, method: str, *args: str
) -> tuple[int, dict[str, Any]]:
    """`inspector --cli <url>/mcp --method METHOD ARGS` with `token`; its exit code and the
    JSON it prints (the result on stdout, or an error on stderr)."""
    headers = ["--header", f"Authorization: Bearer {token}"] if token else []
    command = [
        *npm.inspector,
        f"{api.base_url}/mcp",
        "--transport",
        "http",
        *headers,
        "--method",
        method,
        *args,
        "--format",
        "json",
        "--stored-auth-only",
    ]
    done = await run(command, home)
    printed = done.stdout.strip() or done.stderr.strip().splitlines()[-1]
    return done.returncode, json.loads(printed)


async def test_the_inspector_initializes_and_lists_the_tenants_agents(api, npm, client_home):
    token = api.tokens["acme/submitter"]
    code, shown = await inspect(npm, api, client_home, token, "initialize")
    assert code == 0, shown
    assert shown["result"]["serverInfo"]["name"] == "wakeful"
    assert "tools" in shown["result"]["capabilities"]

    code, listed = await inspect(npm, api, client_home, token, "tools/list")
    assert code == 0, listed
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    assert {"default", "quick", "slow", "gated"} <= set(tools)
    assert tools["quick"]["inputSchema"]["required"] == ["goal"]

    code, theirs = await inspect(npm, api, client_home, api.tokens["globex/admin"], "tools/list")
    assert code == 0 and "quick" not in {tool["name"] for tool in theirs["result"]["tools"]}


async def test_the_tool_schemas_are_portable(api, npm, client_home):
    command = [
        *npm.inspector,
        f"{api.base_url}/mcp",
        "--transport",
        "http",
        "--header",
        f"Authorization: Bearer {api.tokens['acme/submitter']}",
        "--method",
        "tools/list",
        "--strict",
        "--stored-auth-only",
    ]
    done = await run(command, client_home)
    assert done.returncode == 0, done.stderr  # 6: an error-severity portability problem
    assert "Warning" not in done.stderr and "Error" not in done.stderr, done.stderr


async def test_a_tools_call_through_the_inspector_runs_a_task(api, npm, client_home):
    code, called = await inspect(
        npm,
        api,
        client_home,
        api.tokens["acme/submitter"],
        "tools/call",
        "--tool-name",
        "quick",
        "--tool-arg",
        "goal=Check the load",
    )
    assert code == 0, called
    result = called["result"]
    assert result["isError"] is False
    assert result["structuredContent"]["state"] == "completed"
    assert result["content"][0]["text"] == result["structuredContent"]["output"] != ""

    task_id = result["structuredContent"]["task_id"]
    rest = await api.client("acme/submitter").get(f"/tasks/{task_id}")
    assert rest.json()["goal"] == "Check the load" and rest.json()["agent"] == "quick"


async def test_an_agent_with_a_goal_of_its_own_is_called_without_one(api, npm, client_home):
    goal = "Watch the load of this host"
    await api.services.agents.apply("acme", {**scripted_agent("standing"), "goal": goal})
    token = api.tokens["acme/submitter"]
    code, listed = await inspect(npm, api, client_home, token, "tools/list")
    tools = {tool["name"]: tool for tool in listed["result"]["tools"]}
    assert "required" not in tools["standing"]["inputSchema"], tools["standing"]

    code, called = await inspect(
        npm, api, client_home, token, "tools/call", "--tool-name", "standing"
    )
    assert code == 0 and called["result"]["structuredContent"]["state"] == "completed", called
    task_id = called["result"]["structuredContent"]["task_id"]
    rest = await api.client("acme/submitter").get(f"/tasks/{task_id}")
    assert rest.json()["goal"] == goal


@pytest.mark.parametrize("token", ["wk_not-a-token", None], ids=["wrong", "none"])
async def test_the_inspector_without_a_good_token_is_refused(api, npm, client_home, token):
    code, refused = await inspect(npm, api, client_home, token, "tools/list")
    assert code != 0 and refused["error"]["code"] == "auth_required", refused
    assert "token" in refused["error"]["message"]  # our 401's detail


async def test_a_request_from_another_origin_is_refused(api):
    client = api.client("acme/submitter")
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    other = await client.post("/mcp", json=body, headers={**accept, "Origin": "http://evil.test"})
    assert other.status_code == 403 and "another origin" in other.json()["detail"]
    same = await client.post("/mcp", json=body, headers={**accept, "Origin": api.base_url})
    assert same.status_code != 403
    # a local tool on another port (the Inspector's UI, say) is a loopback origin too
    for local in ("http://localhost:6274", "http://127.0.0.1:9"):
        ok = await client.post("/mcp", json=body, headers={**accept, "Origin": local})
        assert ok.status_code != 403, (local, ok.text)
    nulled = await client.post("/mcp", json=body, headers={**accept, "Origin": "null"})
    assert nulled.status_code == 403
    # DNS rebinding: evil.test now resolves to 127.0.0.1, so Origin and Host agree
    rebound = {**accept, "Origin": "http://evil.test", "Host": "evil.test"}
    rebinding = await client.post("/mcp", json=body, headers=rebound)
    assert rebinding.status_code == 403 and "Host 'evil.test'" in rebinding.json()["detail"]


async def test_the_conformance_suite_passes_what_applies(api, npm, tmp_path):
    env = {
        "WAKEFUL_NPM_DIR": str(npm.root),
        "WAKEFUL_MCP_TOKEN": api.tokens["acme/submitter"],
    }
    preload = f"--import={(CONFORMANCE / 'bearer_preload.mjs').as_uri()}"
    command = [
        *npm.conformance(preload),
        "server",
        "--url",
        f"{api.base_url}/mcp",
        "--expected-failures",
        str(CONFORMANCE / "baseline.yml"),
        "-o",
        str(tmp_path),
    ]
    done = await run(command, env)
    results = scenario_results(tmp_path)
    baseline = set(yaml.safe_load((CONFORMANCE / "baseline.yml").read_text())["server"])
    print("\nMCP conformance (server scenarios; n/a: in the baseline, does not apply):")
    for name, (status, note) in sorted(results.items()):
        shown = f"n/a ({status})" if name in baseline else status
        print(f"  {shown:14} {name}{f'  ({note})' if note else ''}")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert set(results) >= APPLICABLE, sorted(results)
    failed = {name for name in APPLICABLE if results[name][0] != "passed"}
    assert not failed, {name: results[name] for name in failed}


def scenario_results(output: Path) -> dict[str, tuple[str, str]]:
    """scenario -> ("passed" | "failed", the first failure's message) from checks.json."""
    results: dict[str, tuple[str, str]] = {}
    for checks in output.glob("server-*/checks.json"):
        name = checks.parent.name.removeprefix("server-").rsplit("-", 6)[0]
        failures = [c for c in json.loads(checks.read_text()) if c["status"] not in PASSING]
        note = (failures[0].get("errorMessage") or failures[0]["id"]) if failures else ""
        results[name] = ("failed" if failures else "passed", note[:120])
    return results
