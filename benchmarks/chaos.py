"""Chaos: `wakeful serve` and two `wakeful worker` processes on one Postgres, SIGKILLed at
random points while they run tasks whose agent makes side effects, and Postgres itself
killed once; then the account, as JSON on stdout (progress on stderr).

    python -P benchmarks/chaos.py --tasks 200 --kills 200 --seed 1 --json-out chaos.json

Every task has its own scripted agent (`chaos-<ref>`, applied over REST like the task is
submitted, with the admin token from <data dir>/admin.token) that plans one step, then
calls the write-scoped MCP tool `fx.record_effect` twice (steps 1 and 2; the MCP server,
tests/support/effects_mcp_server.py, appends each effect to a log with fsync, sleeping a
little before and after) and answers. Model calls take a scripted 0.5-2 s.

Kills, mostly of workers, some of serve, each classified by what the process was doing
when it died: `startup` (not yet taking work), `mid_model` (running tasks, no tool call in
flight: model latency is most of a run), `mid_tool` (a ledger record "started" by this
process is not finished), `idle`; and fault-injected self-kills of a worker started with
WAKEFUL_CRASH_AFTER_FLUSH=<node> (`flush_checkpoint`: a node's events written, its
checkpoint not), WAKEFUL_CRASH_DURING_TOOL (`before_tool`: "started" recorded, the tool not
run) or WAKEFUL_CRASH_AFTER_TOOL (`after_tool`: the effect done and recorded, no
checkpoint). Halfway, the postmaster is SIGKILLed and started again (embedded Postgres;
skipped with DATABASE_URL, which gets a fresh database of its own). Every dead process is
started again at once, as a supervisor would; a death we did not cause is reported.

While the kills go on, a task is submitted whenever fewer are open than there are run
slots, so every kill lands on work (--tasks is a minimum). At the end the run waits (up
to --settle-seconds) until no task is submitted or working, and reports against the
targets: 0 lost, 0 duplicated effects, 0 crash-caused failures, every unknown outcome
waiting for a person, none left working/submitted. Then (unless --no-answer) a person
answers each "did this happen?" truthfully from the effects log (done / retry) over REST
(benchmarks/chaos_answers.py): each answered task must complete with every effect made
exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.append(str(Path(__file__).resolve().parent))  # the chaos_* helpers beside us

from chaos_answers import answer_all
from chaos_cluster import Cluster, Database, Member, Queries, log
from chaos_report import SETTLED, account, targets
from chaos_tasks import TOOL, Demand, Submitter, agent_spec

FLUSH_NODES = ("planner", "worker", "tools", "critic")
# planned kill kinds and their weights; what a kill hit is recorded as it happened
PLAN_WEIGHTS = {"mid_model": 26, "mid_tool": 26, "startup": 12, "flush_checkpoint": 14,
                "before_tool": 5, "after_tool": 5}  # and serve: one kill in ten
_HOLDS = """
SELECT t.id, bool_or(l.status = 'started' AND l.started_at > now() - %(age)s * interval '1 s')
       AS in_tool
FROM tasks t LEFT JOIN tool_ledger l ON l.task_id = t.id
WHERE t.state = 'working' AND t.lease_owner LIKE %(owner)s
GROUP BY t.id
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Chaos:
    def __init__(self, args: argparse.Namespace, data_dir: Path, db: Database) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.data_dir = data_dir
        self.db = db
        self.q = Queries(db.url)
        self.effects_log = data_dir / "effects.jsonl"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.kills: Counter[str] = Counter()
        self.kills_by_process: Counter[str] = Counter()
        self.kill_log: list[dict[str, Any]] = []
        self.unexpected_exits: list[dict[str, Any]] = []
        self.postgres: dict[str, Any] = {"kills": 0}
        self.cluster = Cluster(db.url, data_dir, port=self.port, workers=args.workers,
                               concurrency=args.concurrency, on_exit=self.exited)
        self.kills_over = threading.Event()
        demand = Demand(args.tasks, self.slots + 2, self.kills_over)
        self.submitter = Submitter(
            db.url, self.base_url, demand, token=self.token,
            spec_for=lambda ref: agent_spec(ref, self.rng_for(ref), self.effects_log),
        )

    # -- bookkeeping -------------------------------------------------------------------------

    def rng_for(self, ref: str) -> random.Random:
        return random.Random(f"{self.args.seed}:{ref}")

    def token(self) -> str:
        path = self.data_dir / "admin.token"
        deadline = time.monotonic() + 300
        while not path.exists():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{path} was not written by serve")
            time.sleep(0.2)
        return path.read_text().strip()

    def kills_done(self) -> int:
        return sum(self.kills.values())

    @property
    def slots(self) -> int:
        return self.args.concurrency * (self.args.workers + 1)

    def exited(self, member: Member, code: int) -> None:
        fault = member.fault
        if code == -9 and fault:  # a fault-injected self-kill
            self.record(member, self._fault_kind(fault), fault=fault)
            log(f"kill {self.kills_done()}: {member.name} killed itself at {fault}")
            return
        self.unexpected_exits.append({"process": member.name, "life": member.incarnation,
                                      "code": code, "log_tail": member.tail(800)})
        log(f"{member.name} exited with {code} on its own: {member.tail(300)!r}")

    @staticmethod
    def _fault_kind(fault: dict[str, str]) -> str:
        if "WAKEFUL_CRASH_AFTER_FLUSH" in fault:
            return "flush_checkpoint"
        return "before_tool" if "WAKEFUL_CRASH_DURING_TOOL" in fault else "after_tool"

    def record(self, member: Member, kind: str, **detail: Any) -> None:
        self.kills[kind] += 1
        self.kills_by_process["serve" if member is self.cluster.serve else "worker"] += 1
        self.kill_log.append({"n": self.kills_done(), "process": member.name,
                              "life": member.incarnation, "kind": kind,
                              "at": round(time.monotonic() - self.started, 1), **detail})

    # -- what a process is doing ---------------------------------------------------------------

    def holds(self, member: Member) -> list[dict[str, Any]]:
        """The working tasks `member`'s runs hold, with whether one of its tool calls is in
        flight (a "started" ledger record younger than this life of the process)."""
        age = max(0.1, time.monotonic() - member.started_at)
        owner = f"%:{member.pid}#%"
        return self.q.rows(_HOLDS, {"age": age, "owner": owner})

    def doing(self, member: Member) -> str:
        if not member.ready():
            return "startup"
        held = self.holds(member)
        if any(h["in_tool"] for h in held):
            return "mid_tool"
        return "mid_model" if held else "idle"

    def kill(self, member: Member) -> str:
        kind = self.doing(member)
        self.cluster.kill(member)
        tasks = len(self.holds(member))
        self.record(member, kind, tasks_held=tasks)
        log(f"kill {self.kills_done()}: {member.name} ({kind}, {tasks} task(s))")
        return kind

    # -- the kills -----------------------------------------------------------------------------

    def wait_for(self, want: str, timeout: float) -> Member | None:
        """A worker doing `want` (mid_model / mid_tool) within `timeout`, polling."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.cluster.supervise()
            workers = [w for w in self.cluster.workers if w.alive() and not w.fault]
            self.rng.shuffle(workers)
            for worker in workers:
                if self.doing(worker) == want:
                    return worker
            time.sleep(0.05)
        return None

    def next_plan(self) -> str:
        """A kill kind drawn by PLAN_WEIGHTS; serve's turn is kept to about one in ten."""
        if self.kills_by_process["serve"] < (self.kills_done() + 1) // 10:
            return "serve"
        kinds, weights = zip(*PLAN_WEIGHTS.items(), strict=True)
        return self.rng.choices(kinds, weights=weights)[0]

    def one_kill(self, plan: str) -> None:
        if plan in ("mid_model", "mid_tool"):
            target = self.wait_for(plan, self.args.wait_seconds)
            if target is None:  # nothing of the kind came: kill a worker as it is
                target = self.rng.choice(self.cluster.workers)
            self.kill(target)
        elif plan == "startup":
            target = self.rng.choice(self.cluster.workers)
            if target.ready():
                self.kill(target)
            self.cluster.supervise()
            time.sleep(self.rng.uniform(0.1, 3.0))
            if target.alive():
                self.kill(target)
        elif plan == "serve":
            time.sleep(self.rng.uniform(0, 3.0))
            self.kill(self.cluster.serve)
        else:
            self.fault_kill(plan)
        self.cluster.supervise()

    def fault_kill(self, plan: str) -> None:
        """Start a worker whose life ends at the fault's point (counted when it dies); one
        that does not get there within the wait is killed as it is."""
        fault = {"flush_checkpoint": {"WAKEFUL_CRASH_AFTER_FLUSH": self.rng.choice(FLUSH_NODES)},
                 "before_tool": {"WAKEFUL_CRASH_DURING_TOOL": TOOL},
                 "after_tool": {"WAKEFUL_CRASH_AFTER_TOOL": TOOL}}[plan]
        target = self.rng.choice(self.cluster.workers)
        if target.alive():
            self.kill(target)
        self.cluster.spawn(target, fault)
        before = self.kills_done()
        deadline = time.monotonic() + self.args.wait_seconds * 2
        while time.monotonic() < deadline and target.alive():
            time.sleep(0.05)
        if target.alive():
            self.kill(target)
        self.cluster.supervise()  # counts the self-kill, starts it plainly again
        if self.kills_done() == before:
            log(f"{target.name} with {target.fault} died neither by itself nor by us?")

    def kill_postgres(self) -> None:
        if not self.db.embedded:
            self.postgres = {"kills": 0, "skipped": "external DATABASE_URL: not ours to kill"}
            return
        pid = self.db.kill()
        down = self.rng.uniform(1.0, 5.0)
        log(f"postgres: postmaster {pid} SIGKILLed; down for {down:.1f} s")
        time.sleep(down)
        took = self.db.restart()
        self.postgres = {"kills": 1, "down_seconds": round(down, 1),
                         "restart_seconds": round(took, 1)}
        log(f"postgres: back after {took:.1f} s of restart")

    def run(self) -> dict[str, Any]:
        self.started = time.monotonic()
        self.cluster.spawn(self.cluster.serve)
        self.wait_serve()
        for worker in self.cluster.workers:
            self.cluster.spawn(worker)
        self.submitter.start()
        postgres_done = self.args.no_postgres_kill
        while self.kills_done() < self.args.kills:
            if not postgres_done and self.kills_done() >= self.args.kills // 2:
                self.kill_postgres()
                postgres_done = True
            self.check_submitter()
            self.one_kill(self.next_plan())
            time.sleep(self.rng.uniform(0.2, self.args.pause_seconds))
        self.kills_over.set()
        log(f"{self.kills_done()} kills done; submitting the rest and settling")
        while self.submitter.is_alive():
            self.cluster.supervise()
            self.submitter.join(timeout=0.5)
        self.check_submitter()
        settled = self.settle()
        found = account(self.q, self.effects_log, self.submitter.submitted)
        answered = None
        if not self.args.no_answer:
            log("answering every unknown outcome as a person would; settling again")
            try:
                with httpx.Client(base_url=self.base_url, timeout=30) as client:
                    answered = answer_all(self.q, client, self.token, self.effects_log,
                                          settle=self.settle)
            except (httpx.HTTPError, ValueError) as exc:  # reported, not lost with the rest
                answered = {"error": repr(exc), "ok": False}
        return self.result(found, settled, answered)

    def wait_serve(self) -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            self.cluster.supervise([self.cluster.serve])
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"serve did not answer /healthz: {self.cluster.serve.tail()}")

    def check_submitter(self) -> None:
        if self.submitter.error is not None:
            raise RuntimeError(f"submitting failed: {self.submitter.error!r}")

    def settle(self) -> dict[str, Any]:
        """Wait (bounded) until every task is final or waits for a person, restarting what
        dies meanwhile; returns how long it took."""
        started = time.monotonic()
        deadline = started + self.args.settle_seconds
        open_tasks = -1
        while time.monotonic() < deadline:
            self.cluster.supervise()
            open_tasks = self.q.rows(
                "SELECT count(*) AS n FROM tasks WHERE agent LIKE 'chaos-%%'"
                " AND NOT state = ANY(%s)", (list(SETTLED),))[0]["n"]
            if open_tasks == 0:
                break
            time.sleep(1.0)
        return {"seconds": round(time.monotonic() - started, 1), "open_at_end": open_tasks,
                "timed_out": open_tasks != 0}

    def result(
        self, found: dict[str, Any], settled: dict[str, Any], answered: dict[str, Any] | None
    ) -> dict[str, Any]:
        met = targets(found)
        if answered is not None:
            met["answered_unknown_outcomes_complete_with_one_effect_each"] = answered["ok"]
        return {
            "benchmark": "chaos",
            "seed": self.args.seed,
            "setup": {"tasks": self.args.tasks, "workers": self.args.workers,
                      "concurrency": self.args.concurrency,
                      "database": "embedded" if self.db.embedded else "DATABASE_URL",
                      "cpus": os.cpu_count(),
                      "load_average": [round(x, 1) for x in os.getloadavg()]},
            "kills": {"total": self.kills_done(), "by_kind": dict(self.kills),
                      "by_process": dict(self.kills_by_process), "postgres": self.postgres},
            **found,
            "after_answers": answered,
            "unexpected_exits": self.unexpected_exits,
            "settle": settled,
            "elapsed_seconds": round(time.monotonic() - self.started, 1),
            "targets": met,
            "targets_met": all(met.values()),
            "data_dir": str(self.data_dir) if self.args.keep else None,
            "kill_log": self.kill_log,
        }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200,
                        help="tasks to run at least (more while the kills go on)")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs of serve/workers")
    parser.add_argument("--seed", type=int, default=1, help="seeds the kill plan and agents")
    parser.add_argument("--json-out", type=Path, help="also write the JSON here")
    parser.add_argument("--workers", type=int, default=2, help="`wakeful worker` processes")
    parser.add_argument("--concurrency", type=int, default=2, help="tasks at a time, each")
    parser.add_argument("--wait-seconds", type=float, default=20.0,
                        help="how long a planned kill waits for its moment")
    parser.add_argument("--pause-seconds", type=float, default=1.5,
                        help="longest random pause between kills")
    parser.add_argument("--settle-seconds", type=float, default=900.0,
                        help="how long the end waits for every task to settle")
    parser.add_argument("--no-postgres-kill", action="store_true")
    parser.add_argument("--no-answer", action="store_true",
                        help="leave the unknown outcomes unanswered at the end")
    parser.add_argument("--keep", action="store_true",
                        help="keep the data dir (process logs) and say where")
    args = parser.parse_args(argv)
    if args.tasks < 1 or args.kills < 0 or args.workers < 1 or args.concurrency < 1:
        parser.error("--tasks, --workers and --concurrency must be >= 1, --kills >= 0")
    # SIGTERM (a test's timeout, a CI stop) unwinds like Ctrl-C: processes and Postgres stop
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    data_dir = Path(tempfile.mkdtemp(prefix="wakeful-chaos-"))
    db = Database(data_dir, os.environ.get("DATABASE_URL"))
    chaos = Chaos(args, data_dir, db)
    try:
        try:
            result = chaos.run()
        finally:
            chaos.cluster.stop()
            chaos.q.close()
    finally:
        db.close()
        if not args.keep:
            import shutil

            shutil.rmtree(data_dir, ignore_errors=True)
    text = json.dumps(result, indent=2, default=str)
    if args.json_out:
        args.json_out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
