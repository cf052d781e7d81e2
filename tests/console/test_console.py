"""The ops console in a real headless Chromium against a real `wakeful serve`: sign in,
live events, answering approvals, pausing and resuming an agent, the away summary after a
continuous agent's iterations, offline /docs, a submitter's read-only pages, CSRF, and a
second tenant who sees none of the first tenant's data. Each page's screenshot is saved
(see conftest: WAKEFUL_CONSOLE_SCREENSHOTS)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import httpx
import pytest
from selenium.webdriver.common.by import By

if TYPE_CHECKING:  # conftest is not importable under --import-mode=importlib
    from conftest import ConsoleServer, Page

pytestmark = pytest.mark.slow
ACME_AGENTS = ("quick", "gated", "slowish", "watcher", "stalling", "rememberer")


def css(page: Page, selector: str) -> list:
    return page.driver.find_elements(By.CSS_SELECTOR, selector)


def click(page: Page, selector: str) -> None:
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, selector), selector)
    css(page, selector)[0].click()


async def signed_in_client(console: ConsoleServer, who: str) -> tuple[httpx.AsyncClient, str]:
    """An HTTP client with the console's cookie for `who`, and its CSRF value."""
    client = httpx.AsyncClient(base_url=console.base_url, timeout=300)  # memory: embedder
    console.clients.append(client)
    reply = await client.post("/console/login", data={"token": console.tokens[who]})
    assert reply.status_code == 303, reply.text
    form = await client.get("/console/agents")
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', form.text)
    assert csrf, form.text[:2000]
    return client, csrf.group(1)


async def test_sign_in_needs_a_known_token_and_returns_to_the_page_asked_for(
    console: ConsoleServer, page: Page
) -> None:
    page.driver.delete_all_cookies()
    page.open("/console/tasks?state=completed")
    page.wait_for(lambda d: "/console/login" in d.current_url, "sent to the sign-in form")
    page.screenshot("login")
    page.driver.find_element(By.ID, "token").send_keys("wk_not-a-token")
    page.driver.find_element(By.ID, "sign-in").click()
    problem = page.wait_for(lambda d: d.find_elements(By.ID, "problem"), "refusal shown")
    assert "unknown" in problem[0].text

    page.driver.find_element(By.ID, "token").send_keys(console.tokens["acme/submitter"])
    page.driver.find_element(By.ID, "sign-in").click()
    page.wait_for(lambda d: d.find_elements(By.ID, "task-list"), "the task list")
    assert page.driver.current_url.endswith("/console/tasks?state=completed")
    assert "acme-submitter" in page.driver.find_element(By.ID, "who").text
    cookie = page.driver.get_cookie("wakeful_console")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Strict"


async def test_a_task_s_events_arrive_live(console: ConsoleServer, page: Page) -> None:
    page.sign_in(console.tokens["acme/submitter"])
    task_id = await console.submit("slowish")
    page.open(f"/console/tasks/{task_id}")
    page.wait_for(lambda d: d.find_elements(By.ID, "events"), "the task page")
    assert not css(page, "#events tr[data-type=finished]"), "opened after the task ended"
    page.driver.execute_script("window.__samePage = true")

    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#events tr[data-type=finished]"),
                  "the finished event arriving live", timeout=120)
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#task-head .state-completed"),
                  "the overview showing completed", timeout=60)
    assert page.driver.execute_script("return window.__samePage") is True  # no reload
    seqs = [int(row.get_attribute("data-seq")) for row in css(page, "#events tr")]
    assert seqs == sorted(set(seqs)) and len(seqs) >= 5, seqs
    assert css(page, "#plan g[data-status=done]"), "the plan's step shown done"
    calls = css(page, ".tool-call")
    assert calls and "load_average" in calls[0].text
    assert css(page, ".tool-call .result.untrusted"), "tool output marked untrusted"
    assert "untrusted tool output" in calls[0].text.lower()
    page.screenshot("task")


async def test_cancel_from_the_task_page(console: ConsoleServer, page: Page) -> None:
    page.sign_in(console.tokens["acme/submitter"])
    task_id = await console.submit("slowish", "Check the load, then be canceled")
    page.open(f"/console/tasks/{task_id}")
    click(page, "#cancel")
    notice = page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "cancel noted")
    assert "Cancel requested" in notice[0].text
    assert await console.task_state(task_id, "canceled") == "canceled"
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#task-head .state-canceled"),
                  "the page showing canceled", timeout=60)
    assert not css(page, "#cancel")


async def test_approving_a_waiting_call_finishes_the_task(
    console: ConsoleServer, page: Page
) -> None:
    task_id = await console.submit("gated", "Write the health report")
    await console.task_state(task_id, "input-required")
    page.sign_in(console.tokens["acme/approver"])
    page.open("/console/approvals")
    card = f"#req-{task_id}"
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, card), "the waiting request")
    assert "write_report" in css(page, card)[0].text
    edit = css(page, f"{card} textarea[data-field=edit-args]")[0]
    edit.clear()
    edit.send_keys('{"title": "Health", "body": "all fine, edited"}')
    page.wait_for(lambda d: "edited" in d.find_element(By.ID, f"diff-{task_id}").text,
                  "the diff of the edit")
    diff = page.driver.find_element(By.ID, f"diff-{task_id}").text
    assert '+  "body": "all fine, edited"' in diff and '-  "body": "all fine"' in diff
    page.screenshot("approvals")

    click(page, f"{card} button[data-action=approve]")
    notice = page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "the decision noted")
    assert "approve recorded" in notice[0].text and "acme-approver" in notice[0].text
    page.open(f"/console/tasks/{task_id}")
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, "#task-head .state-completed"),
                  "the task finishing", timeout=120)
    events = await console.services.tasks.events("acme", task_id)
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["decided_by"]) == ("approve", "acme-approver")


async def test_a_submitter_reads_the_inbox_but_only_an_approver_answers(
    console: ConsoleServer, page: Page
) -> None:
    task_id = await console.submit("gated", "Write another report")
    await console.task_state(task_id, "input-required")
    page.sign_in(console.tokens["acme/submitter"])
    page.open("/console/approvals")
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, f"#req-{task_id}"), "the request")
    assert css(page, "#read-only") and not css(page, "button[data-action]")
    page.open("/console/agents")
    assert css(page, "#agent-quick") and not css(page, "button[data-action=pause]")
    client, csrf = await signed_in_client(console, "acme/submitter")
    refused = await client.post(f"/console/approvals/{task_id}",
                                data={"action": "approve", "csrf": csrf})
    assert refused.status_code == 403 and "approver role" in refused.text
    paused = await client.post("/console/agents/quick/pause", data={"csrf": csrf})
    assert paused.status_code == 403 and "admin role" in paused.text

    page.sign_in(console.tokens["acme/approver"])
    page.open("/console/approvals")
    card = f"#req-{task_id}"
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, card), "the request")
    css(page, f"{card} input[data-field=reject-comment]")[0].send_keys("not today")
    click(page, f"{card} button[data-action=reject]")
    page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "the rejection noted")
    await console.task_state(task_id, "completed", "failed")
    events = await console.services.tasks.events("acme", task_id)
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["comment"], decided["decided_by"]) == (
        "reject", "not today", "acme-approver")


async def test_an_unknown_outcome_is_answered_with_done(
    console: ConsoleServer, page: Page, console_db
) -> None:
    task_id = await console.submit("stalling", "Send the message")
    await console.task_state(task_id, "input-required")
    page.sign_in(console.tokens["acme/approver"])
    page.open("/console/approvals")
    card = f"#req-{task_id}"
    page.wait_for(lambda d: d.find_elements(By.CSS_SELECTOR, card), "the question")
    text = css(page, card)[0].text
    assert "Did this call take effect?" in text and "s.stall" in text and "timeout" in text
    buttons = [b.get_attribute("data-action") for b in css(page, f"{card} button")]
    assert buttons == ["done", "retry", "skip"]
    css(page, f"{card} input[name=comment]")[0].send_keys("went out as #9")
    click(page, f"{card} button[data-action=done]")
    page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "the answer noted")
    assert await console.task_state(task_id, "completed", "failed") == "completed"
    assert (console_db[1] / "stall-console").read_text() == "1"  # ran once, never again
    events = await console.services.tasks.events("acme", task_id)
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["decided_by"]) == ("done", "acme-approver")


async def test_forms_without_the_csrf_value_are_refused(console: ConsoleServer) -> None:
    client, csrf = await signed_in_client(console, "acme/admin")
    forged = await client.post("/console/agents/quick/pause", data={})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert not (await console.services.agents.get("acme", "quick")).paused
    wrong = await client.post("/console/agents/quick/pause", data={"csrf": "0" * 64})
    assert wrong.status_code == 403
    bad_since = await client.get("/console/?since=yesterday")
    assert bad_since.status_code == 422 and "since" in bad_since.text
    unknown = await client.post("/console/memory/quick/forget", data={"csrf": csrf,
                                                                      "fact": "nope"})
    assert unknown.status_code == 404 and "no fact" in unknown.text


async def test_a_tenant_admin_flips_its_tenant_s_kill_switch_only(
    console: ConsoleServer,
) -> None:
    client, csrf = await signed_in_client(console, "acme/admin")
    switch = console.services.killswitch
    glob = await client.post("/console/killswitch",
                             data={"csrf": csrf, "on": "true", "scope": "installation"})
    assert glob.status_code == 403 and "installation-admin" in glob.text
    assert not (await switch.state()).on
    try:
        on = await client.post("/console/killswitch", data={"csrf": csrf, "on": "true"})
        assert on.status_code == 303 and "kill switch is on" in on.headers["location"].replace(
            "+", " ")
        assert (await switch.tenant_state("acme")).on
        assert not (await switch.tenant_state("globex")).on
        page = await client.get("/console/agents")
        assert "ON — nothing of this tenant runs" in page.text
    finally:
        off = await client.post("/console/killswitch", data={"csrf": csrf, "on": "false"})
        assert off.status_code == 303
    assert not (await switch.tenant_state("acme")).on


async def test_resume_a_continuous_agent_read_the_away_summary_then_pause_it(
    console: ConsoleServer, page: Page, eventually
) -> None:
    page.sign_in(console.tokens["acme/admin"])
    page.open("/console/agents")
    assert css(page, "#agent-watcher")[0].get_attribute("data-state") == "paused"
    click(page, "button[data-agent=watcher][data-action=resume]")
    page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "resume noted")
    assert css(page, "#agent-watcher")[0].get_attribute("data-state") == "active"
    assert not (await console.services.agents.get("acme", "watcher")).paused

    async def three_iterations() -> bool:
        tasks, _ = await console.services.tasks.list("acme", agent="watcher", state="completed")
        return len(tasks) >= 3

    await eventually(three_iterations, timeout=180, what="three iterations of watcher")
    page.open("/console/agents/watcher")
    click(page, "button[data-agent=watcher][data-action=pause]")
    page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "pause noted")
    assert page.driver.find_element(By.ID, "agent-status").get_attribute("data-state") == "paused"
    assert (await console.services.agents.get("acme", "watcher")).paused
    assert "Load nominal" in page.text()  # recent iterations listed
    page.screenshot("agent")
    page.open("/console/agents")
    page.screenshot("agents")

    page.open("/console/")  # a first visit: the last 24 hours
    page.wait_for(lambda d: d.find_elements(By.ID, "per-agent"), "the away summary")
    row = css(page, "#agent-watcher td[data-outcome=succeeded]")[0]
    assert int(row.text) >= 3
    assert int(page.driver.find_element(By.ID, "overall-run").text) >= 3
    assert "Load nominal" in page.driver.find_element(By.ID, "output-watcher").text
    assert "your last visit" in page.driver.find_element(By.ID, "since").text
    page.screenshot("away")
    page.open("/console/?since=1h")
    assert "chosen" in page.driver.find_element(By.ID, "since").text
    assert int(css(page, "#agent-watcher td[data-outcome=run]")[0].text) >= 3


async def test_docs_render_offline(console: ConsoleServer, page: Page) -> None:
    page.open("/docs")
    page.wait_for(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")) > 5,
                  "Swagger UI's operations rendered")
    assert "/tasks" in page.text()
    loaded = page.driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(console.base_url) for url in loaded), loaded
    page.screenshot("docs")


async def test_memory_shows_episodes_ranked_by_score(console: ConsoleServer, page: Page,
                                                     eventually) -> None:
    task_id = await console.submit("rememberer", "Check the load and remember it")
    await console.task_state(task_id, "completed", timeout=300)  # the embedder loads first
    page.sign_in(console.tokens["acme/admin"])

    def episodes() -> list:
        page.open("/console/memory?agent=rememberer&q=load+average")
        page.wait_for(lambda d: d.find_elements(By.ID, "l3"), "the memory page", timeout=300)
        return css(page, "#l3 tr[data-episode]")

    async def stored() -> list:
        return episodes()  # episodes are written as the run ends

    rows = await eventually(stored, timeout=120, what="an episode of rememberer")
    score = rows[0].find_elements(By.CSS_SELECTOR, "td.num")[-2].text
    assert 0 < float(score) <= 10, score
    assert "L2 running summary" in page.text() and "L4 facts" in page.text()
    page.screenshot("memory")
    episode = rows[0].get_attribute("data-episode")
    click(page, f"#l3 tr[data-episode='{episode}'] button")
    notice = page.wait_for(lambda d: d.find_elements(By.ID, "notice"), "forgetting noted")
    assert f"forgot episode {episode}" in notice[0].text
    assert not css(page, f"#l3 tr[data-episode='{episode}']")


async def test_the_other_pages_render_for_screenshots(console: ConsoleServer,
                                                       page: Page) -> None:
    page.sign_in(console.tokens["acme/admin"])
    for name, path, marker in (("tasks", "/console/tasks", "task-list"),
                               ("alerts", "/console/alerts", "alert-list")):
        page.open(path)
        page.wait_for(lambda d, m=marker: d.find_elements(By.ID, m), f"{path} rendered")
        page.screenshot(name)


async def test_a_second_tenant_sees_none_of_the_first_tenant_s_data(
    console: ConsoleServer, page: Page
) -> None:
    acme_task = await console.submit("quick")
    await console.task_state(acme_task, "completed")
    acme_ids = [t.id for t in (await console.services.tasks.list("acme", limit=500))[0]]
    page.sign_in(console.tokens["globex/admin"])
    for path in ("/console/", "/console/?since=30d", "/console/tasks", "/console/approvals",
                 "/console/agents", "/console/alerts", "/console/memory"):
        page.open(path)
        page.wait_for(lambda d: d.find_elements(By.ID, "who"), f"{path} rendered")
        source = page.driver.page_source
        assert "globex-admin" in source
        leaked = [n for n in (*ACME_AGENTS, *acme_ids, *(i[:8] for i in acme_ids))
                  if re.search(rf"\b{re.escape(n)}\b", source)]
        assert not leaked, f"{path} shows acme's {leaked}"
    for path in (f"/console/tasks/{acme_task}", "/console/agents/quick",
                 "/console/memory?agent=quick"):
        page.open(path)
        problem = page.wait_for(lambda d: d.find_elements(By.ID, "problem"), f"{path} refused")
        assert "no " in problem[0].text, problem[0].text
    client, _ = await signed_in_client(console, "globex/admin")
    assert (await client.get(f"/console/tasks/{acme_task}")).status_code == 404
    assert (await client.get(f"/console/tasks/{acme_task}/live")).status_code == 404
    assert (await client.get(f"/console/tasks/{acme_task}/overview")).status_code == 404
