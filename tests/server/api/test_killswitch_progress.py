"""POST /killswitch says what it stopped and what is left (issue 10): the switch is in
effect at once, open tasks are stopped in batches, the rest by a background sweep; GET
shows what is still left while a switch is on."""

from __future__ import annotations


async def test_the_answer_counts_what_was_stopped_and_what_remains(api, eventually):
    acme = api.client("acme/admin")
    ids = [
        (await acme.post("/tasks", json={"goal": f"s{i}", "agent": "slow"})).json()["id"]
        for i in range(3)
    ]
    switched = await acme.post("/killswitch", json={"on": True})
    try:
        assert switched.status_code == 200, switched.text
        body = switched.json()
        assert body["canceled"] + body["stopping"] == len(body["stopped_tasks"])
        assert body["remaining"] >= 0

        async def nothing_left():
            return (await acme.get("/killswitch")).json()["remaining"] == 0

        await eventually(nothing_left, timeout=120, what="the sweep stopped every open task")

        async def all_ended():
            states = [(await acme.get(f"/tasks/{i}")).json()["state"] for i in ids]
            return all(state == "canceled" for state in states)

        await eventually(all_ended, timeout=120, what="acme's tasks canceled")
    finally:
        off = await acme.post("/killswitch", json={"on": False})
    assert off.status_code == 200 and off.json()["remaining"] == 0
