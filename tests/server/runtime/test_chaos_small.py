"""The chaos benchmark, small: serve + 2 workers on their own embedded Postgres, 20+ tasks
whose agent makes side effects through an MCP write tool, 20+ SIGKILLs at random points
(start-up, mid-model, mid-tool, between flush and checkpoint; serve too) and one Postgres
kill + restart (benchmarks/chaos.py). Every target holds: no task lost, no effect done
twice, no task failed because of a kill, every unknown outcome waiting for a person,
nothing left working or submitted; and once a person answers each "did this happen?"
truthfully, every such task completes with each effect made exactly once.

No timing is asserted: the run polls for each kill's moment and for the end, with bounds
generous enough for a loaded 2-core machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# One run of about five minutes on a loaded 2-core machine, bounded by its own waits.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]
REPO = Path(__file__).resolve().parents[3]
CHAOS = REPO / "benchmarks" / "chaos.py"


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("chaos") / "chaos.json"
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}  # its own Postgres
    command = [sys.executable, "-P", str(CHAOS), "--tasks", "20", "--kills", "20",
               "--seed", "7", "--settle-seconds", "900", "--json-out", str(out)]
    log = out.with_name("chaos.log")
    with log.open("wb") as stderr:
        run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                               stderr=stderr)
        try:
            code = run.wait(timeout=3300)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGTERM)  # it stops its processes and its Postgres
            run.wait(timeout=120)
            raise
    assert code == 0, log.read_text(errors="replace")[-4000:]
    return json.loads(out.read_text())


def test_the_kills_happened(chaos: dict) -> None:
    kills = chaos["kills"]
    assert kills["total"] >= 20
    assert kills["by_process"].get("serve", 0) >= 1
    assert kills["postgres"]["kills"] == 1
    assert chaos["tasks"]["submitted"] >= 20


def test_no_task_is_lost_or_left_running(chaos: dict) -> None:
    assert chaos["lost"] == {"count": 0, "never_stored": [], "not_settled": []}
    assert chaos["left_working_or_submitted"] == 0
    assert chaos["tasks"]["submitted_twice"] == []


def test_no_effect_happens_twice(chaos: dict) -> None:
    assert chaos["duplicated_effects"] == {"count": 0, "effects": []}
    assert chaos["effects"]["completed_tasks_missing_an_effect"] == []


def test_no_task_fails_because_of_a_kill(chaos: dict) -> None:
    assert chaos["crash_caused_failures"]["count"] == 0, chaos["crash_caused_failures"]


def test_every_unknown_outcome_waits_for_a_person(chaos: dict) -> None:
    unknown = chaos["unknown_outcomes"]
    assert unknown["not_waiting"] == 0, unknown["tasks"]
    assert chaos["targets_met"], chaos["targets"]


def test_a_truthful_answer_completes_the_task_with_one_effect_per_step(chaos: dict) -> None:
    answered = chaos["after_answers"]
    assert answered["refused"] == [] and answered["not_completed"] == []
    assert answered["completed_without_exactly_one_effect_per_step"] == []
    assert answered["duplicated_effects_overall"] == 0
