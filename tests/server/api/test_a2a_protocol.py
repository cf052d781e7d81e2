"""A2A v1.0 through a2a-sdk's own client against the served app: the card, blocking and
return-immediately messages, streaming, get / list / cancel / subscribe, and answering an
input-required task. Tasks are our tasks: what A2A submits, REST sees, and vice versa."""

from __future__ import annotations

import httpx
import pytest
from a2a.client import A2AClientError, Client
from a2a.helpers.proto_helpers import get_data_parts, get_text_parts
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTasksRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    Task,
    TaskState,
)
from a2a.utils.errors import (
    InvalidParamsError,
    InvalidRequestError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a_testing import a2a_client, message, send

pytestmark = pytest.mark.slow

COMPLETED, CANCELED = TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_CANCELED
INPUT_REQUIRED = TaskState.TASK_STATE_INPUT_REQUIRED
SETTLED = {COMPLETED, CANCELED, INPUT_REQUIRED, TaskState.TASK_STATE_FAILED}


async def settled_task(client: Client, task_id: str, eventually) -> Task:
    async def settled():
        task = await client.get_task(GetTaskRequest(id=task_id))
        return task if task.status.state in SETTLED else None

    return await eventually(settled, timeout=60, what=f"task {task_id} settled")


def states_of(responses: list[StreamResponse]) -> list[int]:
    states = []
    for response in responses:
        if response.HasField("task"):
            states.append(response.task.status.state)
        elif response.HasField("status_update"):
            states.append(response.status_update.status.state)
    return states


async def test_the_agent_card_is_public_and_lists_the_default_agents_tools(api):
    response = await api.client(None).get("/.well-known/agent-card.json")
    assert response.status_code == 200
    card = response.json()
    assert card["name"] == "wakeful"
    assert card["capabilities"]["streaming"] is True
    [interface] = card["supportedInterfaces"]
    assert interface["url"] == f"{api.base_url}/a2a"
    assert interface["protocolBinding"] == "JSONRPC" and interface["protocolVersion"] == "1.0"
    assert {s["id"] for s in card["skills"]} == {
        "load_average",
        "memory_usage",
        "disk_usage",
        "top_processes",
    }
    assert "bearer" in card["securitySchemes"]


async def test_a_blocking_message_returns_the_completed_task(api):
    client = await a2a_client(api, "acme/submitter", streaming=False)
    [response] = await send(client, message("Check the load", agent="quick"))
    task = response.task
    assert task.status.state == COMPLETED, task
    assert task.context_id == task.id
    [artifact] = task.artifacts
    assert get_text_parts(artifact.parts)[0]
    assert get_text_parts(task.history[0].parts) == ["Check the load"]
    assert task.metadata["agent"] == "quick"

    # The same task, seen through REST.
    rest = (await api.client("acme/submitter").get(f"/tasks/{task.id}")).json()
    assert (rest["state"], rest["goal"]) == ("completed", "Check the load")
    assert get_text_parts(artifact.parts)[0] == rest["output"]


async def test_return_immediately_then_get_and_list(api, eventually):
    client = await a2a_client(api, "acme/submitter", streaming=False)
    [response] = await send(client, message("Look", agent="quick"), at_once=True)
    assert response.task.status.state in {
        TaskState.TASK_STATE_SUBMITTED,
        TaskState.TASK_STATE_WORKING,
    }
    task = await settled_task(client, response.task.id, eventually)
    assert task.status.state == COMPLETED

    listed = await client.list_tasks(ListTasksRequest(status=COMPLETED, page_size=100))
    assert task.id in [t.id for t in listed.tasks]
    assert all(t.status.state == COMPLETED for t in listed.tasks)
    assert listed.total_size >= len(listed.tasks) >= 1
    page = await client.list_tasks(ListTasksRequest(page_size=1))
    assert len(page.tasks) == 1 and page.next_page_token
    following = await client.list_tasks(
        ListTasksRequest(page_size=1, page_token=page.next_page_token)
    )
    assert following.tasks[0].id != page.tasks[0].id
    one = await client.list_tasks(ListTasksRequest(context_id=task.id))
    assert [t.id for t in one.tasks] == [task.id]


async def test_cancel_a_running_task(api, eventually):
    client = await a2a_client(api, "acme/submitter", streaming=False)
    [response] = await send(client, message("Plan slowly", agent="slow"), at_once=True)

    async def planning():
        events = await api.services.tasks.events("acme", response.task.id, limit=1000)
        return any(e.data.get("node") == "planner" for e in events)

    await eventually(planning, timeout=60, what="planner entered")
    canceled = await client.cancel_task(CancelTaskRequest(id=response.task.id))
    assert canceled.status.state == CANCELED
    assert (await client.get_task(GetTaskRequest(id=response.task.id))).status.state == CANCELED
    rest = (await api.client("acme/submitter").get(f"/tasks/{response.task.id}")).json()
    assert rest["state"] == "canceled"

    # A task this server process does not follow (submitted over REST) cancels the same way.
    other = (
        await api.client("acme/submitter").post(
            "/tasks", json={"goal": "Plan slowly", "agent": "slow"}
        )
    ).json()
    canceled = await client.cancel_task(CancelTaskRequest(id=other["id"]))
    assert canceled.status.state == CANCELED
    assert (await client.get_task(GetTaskRequest(id=other["id"]))).status.state == CANCELED


async def test_a_streaming_message_reports_each_state_in_order(api):
    client = await a2a_client(api, "acme/submitter", streaming=True)
    responses = await send(client, message("Stream it", agent="quick"))
    states = states_of(responses)
    assert states[-1] == COMPLETED
    assert TaskState.TASK_STATE_WORKING in states
    assert states == sorted(
        states, key=[TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING, COMPLETED].index
    )
    artifacts = [r.artifact_update for r in responses if r.HasField("artifact_update")]
    assert len(artifacts) == 1 and get_text_parts(artifacts[0].artifact.parts)[0]


async def test_answering_an_input_required_task(api):
    submitter = await a2a_client(api, "acme/submitter", streaming=False)
    approver = await a2a_client(api, "acme/approver", streaming=False)
    [response] = await send(submitter, message("Write the report", agent="gated"))
    task = response.task
    assert task.status.state == INPUT_REQUIRED, task
    [request] = get_data_parts(task.status.message.parts)
    assert request["tool"] == "write_report" and request["kind"] == "approval"
    assert "approve" in get_text_parts(task.status.message.parts)[0]

    with pytest.raises(InvalidRequestError, match="approver"):
        await send(submitter, message(task=task, data={"action": "approve"}))

    approve = {"action": "approve", "comment": "looks right"}
    [answered] = await send(approver, message(task=task, data=approve))
    assert answered.task.id == task.id
    assert answered.task.status.state == COMPLETED, answered.task
    events = await api.services.tasks.events("acme", task.id, limit=1000)
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["comment"], decided["decided_by"]) == (
        "approve",
        "looks right",
        "acme-approver",
    )

    with pytest.raises(UnsupportedOperationError, match="completed"):
        await send(approver, message(task=answered.task, data=approve))


async def test_subscribe_to_a_task_submitted_over_rest_and_reject_it(api, eventually):
    """SubscribeToTask follows any of the tenant's tasks (this one came from REST, and runs
    on the worker) past input-required; a data-part reply rejects the approval."""
    rest = api.client("acme/submitter")
    task_id = (await rest.post("/tasks", json={"goal": "R", "agent": "gated"})).json()["id"]
    streaming = await a2a_client(api, "acme/approver", streaming=True)
    responses = []
    # The stream goes on past input-required (until the task ends): stop reading there.
    async for r in streaming.subscribe(SubscribeToTaskRequest(id=task_id)):
        responses.append(r)
        if states_of([r]) == [INPUT_REQUIRED]:
            break
    assert responses[0].HasField("task") and responses[0].task.id == task_id
    assert states_of(responses)[-1] == INPUT_REQUIRED

    task = await streaming.get_task(GetTaskRequest(id=task_id))
    blocking = await a2a_client(api, "acme/approver", streaming=False)
    reply = message(task=task, data={"action": "reject", "comment": "not today"})
    [answered] = await send(blocking, reply)
    assert answered.task.status.state == COMPLETED
    events = await api.services.tasks.events("acme", task_id, limit=1000)
    [decided] = [e.data for e in events if e.type == "approval_decided"]
    assert (decided["action"], decided["comment"]) == ("reject", "not today")

    with pytest.raises(Exception, match="already ended"):
        [r async for r in streaming.subscribe(SubscribeToTaskRequest(id=task_id))]


async def test_tokens_and_tenants(api):
    with pytest.raises(A2AClientError, match="401"):
        anonymous = await a2a_client(api, None, streaming=False)
        await anonymous.get_task(GetTaskRequest(id="x"))

    mine = await a2a_client(api, "acme/submitter", streaming=False)
    [response] = await send(mine, message("Mine", agent="quick"), at_once=True)
    theirs = await a2a_client(api, "globex/admin", streaming=False)
    with pytest.raises(TaskNotFoundError):
        await theirs.get_task(GetTaskRequest(id=response.task.id))
    with pytest.raises(TaskNotFoundError):
        await theirs.cancel_task(CancelTaskRequest(id=response.task.id))
    with pytest.raises(TaskNotFoundError):
        await send(theirs, message("approve", task=response.task))
    listed = await theirs.list_tasks(ListTasksRequest())
    assert response.task.id not in [t.id for t in listed.tasks]

    with pytest.raises(InvalidParamsError, match="no agent named"):
        await send(mine, message("x", agent="nobody"))
    with pytest.raises(InvalidParamsError, match="budgets"):
        await send(mine, message("x", agent="quick", budgets={"max_tokens": -5}))

    raw = await api.client("acme/submitter").post(
        "/a2a", content=b"{not json", headers={"A2A-Version": "1.0"}
    )
    assert raw.status_code == 200 and raw.json()["error"]["code"] == -32700
    assert isinstance(raw, httpx.Response)
