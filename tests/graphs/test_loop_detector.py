"""The loop detector's signals on hand-built trajectories: each loop is caught within 3
turns of its start, and its healthy twin is not flagged."""

from __future__ import annotations

import pytest

from graphs.loops import Observation as O
from graphs.loops import scan
from graphs.loops.normalise import canonical_args, error_class
from graphs.spec import EntropyConfig

STRUCTURAL = EntropyConfig(semantic=False)
B = "contents of /b: a=1"
STATUS = "job 41: state=in_progress, 40% complete, blocked on approval"


def first(observations, config=STRUCTURAL, embed=None):
    detections, _ = scan(observations, config, embed)
    return detections[0] if detections else None


def caught(observations, loop_start: int, rule: str, **kwargs):
    found = first(observations, **kwargs)
    assert found is not None, "loop not caught"
    assert found.rule == rule, found.signal
    assert found.turn - loop_start <= 3, f"caught {found.turn - loop_start} turns late"
    assert found.evidence and found.since_turn <= found.turn
    return found


def read(path: str, result: str | None = None, **extra) -> O:
    return O.call("read_file", {"path": path, **extra}, result or f"contents of {path}: a=1")


LOOPS = {
    # (observations, turn the loop starts at (1-based), rule)
    "exact_repeat": ([read("/a"), read("/b"), read("/b"), read("/b")], 3, "repeated_call"),
    "argument_drift": ([read("/b"), read(" /b/ ", B, verbose=True), read("/b", B, timeout=30)],
                       2, "repeated_call"),
    "cycle_of_three": ([read("/a"), read("/b"), read("/c")] * 2, 4, "cycle"),
    "cycle_of_two": ([read("/a"), read("/b")] * 2, 3, "cycle"),
    "error_with_ids": ([O.call("get_pod", {"name": f"api-{n}"},
                              f"Error: pod \"api-{n}\" not found in ns-{n}", error=True)
                        for n in (7, 81, 923)], 2, "repeated_error"),
    "same_info_other_tools": ([O.call(t, {"id": 41}, STATUS)
                               for t in ("job_status", "describe_job", "job_info", "job_status")],
                              2, "no_new_information"),
    "identical_replan": ([O.plan_of(["find it"]), read("/a"), O.plan_of(["find it"]),
                          O.text("I could not find it."), O.plan_of(["find it"])],
                         3, "identical_replan"),
    "measurement_jitter": ([O.call("memory_usage", {}, f'{{"used_mb": {2345.6 + i * 0.4:.1f}, '
                                  f'"used_percent": 61.2}}') for i in range(4)],
                           2, "repeated_call"),
    "reset_resume": ([read("/a"), read("/a"), O.reset(), read("/a")], 2, "repeated_call"),
}

HEALTHY = {
    "polling_until_done": [O.call("job_status", {"id": 1}, f"job 1: {p}% done")
                           for p in range(0, 100, 10)] + [O.call("job_status", {"id": 1}, "done")],
    "poll_then_wait": [o for _ in range(6) for o in (O.call("job_status", {"id": 1}, "pending"),
                                                     O.call("sleep", {"seconds": 30}, "slept 30s"))]
    + [O.call("job_status", {"id": 1}, "done")],
    "retried_successfully": [o for p in ("/a", "/b", "/c")
                             for o in (O.call("read_file", {"path": p}, "TimeoutError after 5s",
                                              error=True), read(p))],
    "same_thought_other_arguments": [O.call("disk_usage", {"path": p}, f"{p}: {n}% used",
                                            thought="Checking the next disk.")
                                     for n, p in enumerate(["/", "/var", "/home", "/srv", "/opt"])],
    "templated_progress": [O.call("import_batch", {"batch": i}, "ok",
                                  thought=f"Imported batch {i} of 8.") for i in range(1, 9)],
    "same_check_after_each_step": [o for i in range(3) for o in (read("/health"), read(f"/s{i}"),
                                                                 O.step(f"s{i}"))],
    "versions_and_ids_in_results": [O.call("http_get", {"url": u}, f"HTTP 200 version 3.{n}.1, "
                                            f"1,024 items, build 2026-12-0{n}")
                                    for n, u in enumerate(["/a", "/b", "/c", "/d"])],
    "slow_big_counter": [O.call("job_status", {"id": 1}, f"processed {12000 + 300 * i} of 50000")
                         for i in range(8)],
    "reread_after_a_change": [read("/a"), O.call("edit", {"path": "/a"}, "ok"),
                              read("/a", "contents of /a: a=2"), read("/b")],
}


@pytest.mark.parametrize("name", sorted(LOOPS))
def test_each_loop_is_caught_within_three_turns(name: str) -> None:
    observations, start, rule = LOOPS[name]
    caught(observations, start, rule)


@pytest.mark.parametrize("name", sorted(HEALTHY))
def test_each_healthy_twin_is_left_alone(name: str) -> None:
    found = first(HEALTHY[name])
    assert found is None, found.signal


def test_a_reset_keeps_fingerprints_and_names_the_resumed_loop() -> None:
    detections, detector = scan([read("/a")] * 3, STRUCTURAL)
    assert detections[0].rule == "repeated_call"
    detector.observe(O.reset())
    assert detector.observe(read("/b")) is None  # something new: fine
    resumed = detector.observe(read("/a"))
    assert resumed is not None and resumed.rule == "resumed_loop"


def test_polling_is_bounded_by_its_budget() -> None:
    polls = [O.call("job_status", {"id": 1}, f"tick {n}") for n in range(8)]
    found = first(polls, EntropyConfig(semantic=False, poll_budget=5))
    assert found is not None and found.rule == "polling_budget" and found.turn == 6
    assert first(polls, EntropyConfig(semantic=False, poll_budget=10)) is None


def test_the_detector_state_round_trips_through_json() -> None:
    import json

    detections, detector = scan([read("/a"), read("/a")], STRUCTURAL)
    assert not detections
    restored = type(detector).from_state(json.loads(json.dumps(detector.to_state())), STRUCTURAL)
    assert restored.observe(read("/a")).rule == "repeated_call"


def test_canonical_arguments_and_error_classes() -> None:
    noop = EntropyConfig().noop_args
    parsed = canonical_args("t", '{"b": 1, "a": " x  y "}')
    assert parsed == canonical_args("t", {"a": "x y", "b": 1.0})
    assert canonical_args("t", {"a": 1, "verbose": True}, noop) == canonical_args("t", {"a": 1})
    assert canonical_args("t", {"a": 1}) != canonical_args("t", {"a": 2})
    one = error_class("FileNotFoundError: No such file: '/tmp/x/1.log' (id 7f3a9c21)")
    two = error_class("FileNotFoundError: No such file: '/var/y/22.log' (id 00bd12ef)")
    assert one == two and "<q>" in one
    assert error_class("PermissionError: denied") != one


def test_semantic_stagnation_needs_stagnating_results_too() -> None:
    from memory.embeddings import shared_embedder

    embed = shared_embedder().embed
    config = EntropyConfig(semantic=True, semantic_window=4, semantic_threshold=0.8)
    paraphrases = [
        "I still haven't found why the checkout service is failing; I'll keep investigating.",
        "I have not yet found why the checkout service is failing, so I will keep looking.",
        "Still no clear reason why the checkout service fails; continuing to investigate.",
        "I haven't figured out why the checkout service is failing yet; investigating further.",
    ]
    found = caught([read("/a"), *map(O.text, paraphrases)], 3, "semantic_stagnation",
                   config=config, embed=embed)
    assert found.details["similarity"] >= 0.8
    # the same thoughts over results that keep bringing something new: progress
    moving = [O.call("disk_usage", {"path": f"/d{i}"}, f"/d{i}: {10 * i}% used", thought=t)
              for i, t in enumerate(paraphrases)]
    assert first(moving, config, embed) is None
