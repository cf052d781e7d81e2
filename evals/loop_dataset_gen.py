"""Generate the labelled loop-detection dataset (evals/datasets/loops*.jsonl).

    python -m evals.loop_dataset_gen            # writes loops.jsonl and loops_holdout.jsonl

Each trajectory is a list of turns (tool calls with their results, answers, plans,
completed steps, resets) labelled `loop` or `healthy`, with the pattern it follows and, for
a loop, `loop_start`: the first turn that repeats earlier behaviour without new
information. Trajectories vary in domain (tools, arguments, results), wording, prefix
and length. The held-out split uses other seeds and two domains the dev split never has,
so it tests rules rather than the fit to this generator.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Turn = dict[str, Any]

EXPLORE = [
    "Let me look at {thing}.", "Next I'll check {thing}.", "Checking {thing} now.",
    "I want to see {thing} before deciding.", "Looking into {thing}.",
    "To narrow it down, I'll inspect {thing}.", "Let me pull up {thing}.",
    "{thing} may explain it; reading it.", "Now {thing}.", "I'll query {thing} next.",
]
AGAIN = [
    "Let me check {thing} again.", "I'll look at {thing} once more to be sure.",
    "Checking {thing} again, maybe it changed.", "Let me re-examine {thing}.",
    "I still need to verify {thing}; checking again.", "One more look at {thing} should settle it.",
    "Going back to {thing} to confirm.", "Let me double-check {thing}.",
    "Perhaps I missed something in {thing}; looking again.", "Re-reading {thing}.",
]
STUCK_ANSWERS = [  # a model rewording the same non-answer (real paraphrases: cosine ~0.86)
    "I still haven't found why {x} is failing; I'll keep investigating.",
    "I have not yet found why {x} is failing, so I will continue investigating.",
    "Still no clear reason why {x} fails; continuing to investigate.",
    "I haven't figured out why {x} is failing yet; investigating further.",
    "The reason {x} is failing is still unknown; I'll keep investigating.",
    "Why {x} fails is still unclear to me; I will keep investigating it.",
    "I could not determine yet why {x} is failing; more investigation needed.",
    "So far I can't tell why {x} is failing; I'll investigate further.",
]
POLL = [
    "Waiting for {thing} to finish; checking progress.", "Checking on {thing}.",
    "Let me see whether {thing} is done.", "Polling {thing} again.",
    "Is {thing} finished yet?", "Checking the progress of {thing}.",
]
WAIT = ["Not done yet, waiting a bit.", "I'll wait before checking again.", "Giving it some time.",
        "Still running; pausing before the next check.", "Let me wait and re-check."]
RETRY = ["That failed; retrying.", "Transient error, trying again.", "Let me retry that call.",
         "It errored, probably a hiccup; once more.", "Retrying after the failure."]
FIX = ["That failed; let me fix the {thing} and retry.",
       "Different error now; adjusting the {thing}.",
       "Progress: a new error. Changing the {thing}.",
       "Another problem with the {thing}; fixing it."]
BATCH = ["Imported batch {i} of {n}.", "Batch {i} of {n} is in; continuing.",
         "Done with batch {i}/{n}, next one.", "Importing batch {i} of {n} now."]
ANSWERS = ["{thing} looks fine: {fact}.", "Found it: {fact}.", "Summary so far: {fact}.",
           "Result for this step: {fact}.", "{fact} - that answers the step."]


@dataclass(frozen=True)
class Probe:
    """A read-only tool: which argument it takes, its values, and what it returns."""

    tool: str
    arg: str
    values: tuple[str, ...]
    thing: str  # how a thought names it, with {v} for the value
    result: Callable[[str, random.Random], str]


@dataclass(frozen=True)
class Domain:
    name: str
    probes: tuple[Probe, ...]
    status_tools: tuple[str, ...]  # different tools that report the same status
    entity: str  # what those tools and the poll tool report on
    poll_tool: str
    act_tool: str  # acknowledged actions: "ok"
    error_tool: Probe
    error_text: Callable[[str, random.Random], str]  # one error class, instance-specific
    other_errors: tuple[str, ...]  # different error classes (debugging progress)
    steps: tuple[str, ...]


def _n(rng: random.Random, lo: int = 1, hi: int = 999) -> int:
    return rng.randint(lo, hi)


def _domains() -> dict[str, Domain]:
    def pods(v, r):
        return f"NAME STATUS RESTARTS\n{v}-{_n(r, 100, 999)}-x Running {_n(r, 0, 9)}\n" \
               f"{v}-{_n(r, 100, 999)}-y CrashLoopBackOff {_n(r, 3, 40)}"

    def logs(v, r):
        return f"[{v}] level=error msg=\"connection refused\" retries={_n(r, 1, 9)} " \
               f"upstream=db-{_n(r, 1, 5)}:5432"

    def file_text(v, r):
        return f"# {v}\nport: {_n(r, 1000, 9000)}\nworkers: {_n(r, 1, 16)}\n" \
               f"log_level: {r.choice(['info', 'debug', 'warn'])}"

    def grep(v, r):
        return f"src/{v}.py:{_n(r)}: def {v}_handler(request):\n" \
               f"src/api/{v}_routes.py:{_n(r)}: from {v} import {v}_handler"

    def sql(v, r):
        return f"{v}: {_n(r, 1000, 99999)} rows; last_updated day -{_n(r, 0, 30)}; " \
               f"nulls in email: {_n(r, 0, 500)}"

    def page(v, r):
        return f"<title>{v.title()} - docs</title> {_n(r, 3, 30)} sections, " \
               f"links: /{v}/setup /{v}/faq /{v}/api"

    def metric(v, r):
        return f"{v}: p50={_n(r, 5, 90)}ms p99={_n(r, 100, 900)}ms " \
               f"error_rate={_n(r, 0, 9)}.{_n(r, 0, 9)}%"

    def ticket(v, r):
        return f"ticket {v}: status open, priority P{_n(r, 1, 4)}, " \
               f"customer reports {r.choice(['login failures', 'slow pages', 'missing invoices'])}"

    def disk(v, r):
        return f'{{"path": "{v}", "used_percent": {_n(r, 10, 97)}.{_n(r, 0, 9)}, ' \
               f'"free_gb": {_n(r, 1, 400)}}}'

    return {
        "devops": Domain(
            "devops",
            (Probe("kubectl_get_pods", "namespace", ("payments", "auth", "search", "billing"),
                   "the pods in {v}", pods),
             Probe("get_pod_logs", "pod", ("payments-api", "auth-worker", "search-indexer"),
                   "the logs of {v}", logs),
             Probe("get_metrics", "service", ("checkout", "gateway", "ledger"),
                   "the latency of {v}", metric)),
            ("get_deployment_status", "kubectl_rollout_status", "describe_deployment"),
            "the rollout", "get_rollout_progress", "scale_replicas",
            Probe("kubectl_exec", "pod", ("payments-api-7f9", "auth-worker-2c1"),
                  "a shell in {v}", logs),
            lambda v, r: f"Error from server (NotFound): pods \"{v}-{_n(r, 100, 999)}\" not found",
            ("error: unable to upgrade connection: container not ready",
             "error: permission denied for namespace kube-system"),
            ("find the failing pods", "read their logs", "fix and roll out"),
        ),
        "coding": Domain(
            "coding",
            (Probe("read_file", "path", ("config/app.yaml", "config/db.yaml", "setup.cfg"),
                   "the file {v}", file_text),
             Probe("grep", "pattern", ("login", "invoice", "session"),
                   "uses of {v}", grep),
             Probe("list_dir", "path", ("src", "src/api", "tests"),
                   "the directory {v}",
                   lambda v, r: f"{v}/: " + ", ".join(f"mod_{_n(r, 1, 60)}.py" for _ in range(4)))),
            ("get_ci_status", "ci_pipeline_info", "check_build"),
            "the CI build", "get_build_progress", "apply_patch",
            Probe("run_tests", "target", ("tests/test_api.py", "tests/test_auth.py"),
                  "the tests in {v}", grep),
            lambda v, r: f"FileNotFoundError: [Errno 2] No such file or directory: "
                         f"'/work/repo/{v}/{_n(r)}.py'",
            ("SyntaxError: invalid syntax (line 12)", "ImportError: cannot import name 'Client'"),
            ("locate the bug", "write the fix", "run the tests"),
        ),
        "data": Domain(
            "data",
            (Probe("sql_query", "table", ("orders", "customers", "invoices", "events"),
                   "the {v} table", sql),
             Probe("describe_table", "table", ("orders", "payments", "refunds"),
                   "the schema of {v}",
                   lambda v, r: f"{v}(id bigint, amount numeric, created_at timestamptz, "
                                f"col_{_n(r)} text)"),
             Probe("profile_column", "column", ("email", "amount", "country"),
                   "the column {v}",
                   lambda v, r: f"{v}: distinct {_n(r, 10, 5000)}, nulls {_n(r, 0, 99)}, "
                                f"top value share {_n(r, 1, 60)}%")),
            ("get_job_status", "describe_etl_run", "pipeline_state"),
            "the ETL job", "get_import_progress", "import_batch",
            Probe("load_csv", "file", ("exports/orders.csv", "exports/users.csv"),
                  "the export {v}", sql),
            lambda v, r: f"psycopg.errors.UndefinedColumn: column \"{v}_{_n(r)}\" does not exist",
            ("psycopg.errors.SyntaxError: syntax error at or near \"FROM\"",
             "psycopg.errors.InsufficientPrivilege: permission denied for table refunds"),
            ("profile the data", "clean the duplicates", "load the result"),
        ),
        "web": Domain(
            "web",
            (Probe("open_url", "url", ("https://docs.example.org/install",
                                       "https://docs.example.org/faq",
                                       "https://status.example.org"),
                   "the page {v}", page),
             Probe("search_web", "query", ("install error 0x80070005", "reset password flow",
                                           "rate limit headers"),
                   "search results for {v}",
                   lambda v, r: f"1. {v} - forum thread ({_n(r, 1, 300)} replies)\n"
                                f"2. {v} explained - blog\n3. Docs: {v}"),
             Probe("read_page_section", "section", ("Requirements", "Troubleshooting", "Limits"),
                   "the section {v}",
                   lambda v, r: f"## {v}\nYou need version {_n(r, 1, 9)}.{_n(r, 0, 20)} or later; "
                                f"see note {_n(r)}.")),
            ("get_order_status", "track_shipment", "order_lookup"),
            "the order", "check_upload_progress", "fill_form_field",
            Probe("click", "selector", ("#submit", "a.next", "button.login"),
                  "the element {v}", page),
            lambda v, r: f"TimeoutError: waiting for selector \"{v}\" failed: "
                         f"timeout {_n(r, 1, 30)}000ms exceeded",
            ("Error: element is not attached to the DOM", "Error: net::ERR_NAME_NOT_RESOLVED"),
            ("find the instructions", "fill in the form", "submit and confirm"),
        ),
        # held-out only
        "monitoring": Domain(
            "monitoring",
            (Probe("disk_usage", "path", ("/", "/var", "/home", "/data"),
                   "the disk usage of {v}", disk),
             Probe("top_processes", "n", ("5", "10", "20"), "the top {v} processes",
                   lambda v, r: ", ".join(f"proc{_n(r)} {_n(r, 1, 99)}% cpu" for _ in range(3))),
             Probe("check_port", "port", ("443", "5432", "6379"), "port {v}",
                   lambda v, r: f"port {v}: {r.choice(['open', 'filtered'])}, "
                                f"latency {_n(r, 1, 80)}ms, banner srv-{_n(r)}")),
            ("service_health", "probe_endpoint", "uptime_check"),
            "the backup", "backup_progress", "restart_service",
            Probe("tail_log", "file", ("/var/log/syslog", "/var/log/nginx/error.log"),
                  "the log {v}", logs),
            lambda v, r: f"PermissionError: [Errno 13] Permission denied: '{v}.{_n(r)}'",
            ("OSError: [Errno 28] No space left on device", "TimeoutError: probe timed out"),
            ("check the disks", "find the heavy process", "report"),
        ),
        "support": Domain(
            "support",
            (Probe("get_ticket", "ticket_id", ("T-1042", "T-2210", "T-3307"),
                   "ticket {v}", ticket),
             Probe("search_kb", "query", ("refund policy", "2fa reset", "invoice copy"),
                   "the knowledge base for {v}",
                   lambda v, r: f"KB-{_n(r)}: How to handle {v} "
                                f"(updated {_n(r, 1, 12)} months ago)"),
             Probe("get_customer", "email", ("ana@shop.test", "li@corp.test", "sam@home.test"),
                   "the customer {v}",
                   lambda v, r: f"{v}: plan {r.choice(['pro', 'free', 'team'])}, "
                                f"{_n(r, 1, 40)} orders, since year {_n(r, 2015, 2025)}")),
            ("get_refund_status", "payment_lookup", "refund_tracker"),
            "the refund", "get_export_progress", "send_reply",
            Probe("update_ticket", "ticket_id", ("T-1042", "T-2210"), "ticket {v}", ticket),
            lambda v, r: f"APIError 409: ticket {v}-{_n(r)} is locked by agent {_n(r)}",
            ("APIError 400: field 'body' is required", "APIError 403: not allowed for this queue"),
            ("read the ticket", "find the answer", "reply to the customer"),
        ),
    }


DEV_DOMAINS = ("devops", "coding", "data", "web")
HOLDOUT_DOMAINS = ("devops", "coding", "data", "web", "monitoring", "support")


class Gen:
    """Turns for one trajectory in one domain; remembers results so repeats repeat."""

    def __init__(self, rng: random.Random, domain: Domain) -> None:
        self.rng, self.d = rng, domain
        self.results: dict[tuple[str, str], str] = {}
        self.used: set[tuple[str, str]] = set()

    def say(self, pool: list[str], **slots: Any) -> str:
        return self.rng.choice(pool).format(**slots)

    def pick(self, fresh: bool = True) -> tuple[Probe, str]:
        options = [(p, v) for p in self.d.probes for v in p.values]
        if fresh:
            unused = [o for o in options if (o[0].tool, o[1]) not in self.used]
            if not unused:  # everything read once: a healthy agent reads something else
                probe, value = self.rng.choice(options)
                options = [(probe, f"{value}-{len(self.used)}")]
            else:
                options = unused
        probe, value = self.rng.choice(options)
        self.used.add((probe.tool, value))
        return probe, value

    def call(self, probe: Probe, value: str, pool: list[str] = EXPLORE, *, args: Any = None,
             same: bool = True) -> Turn:
        key = (probe.tool, value)
        self.used.add(key)
        if key not in self.results or not same:
            self.results[key] = probe.result(value, self.rng)
        thing = probe.thing.format(v=value)
        return {"kind": "call", "tool": probe.tool, "args": args or {probe.arg: value},
                "result": self.results[key], "thought": self.say(pool, thing=thing)}

    def explore(self, n: int) -> list[Turn]:
        turns = []
        for _ in range(n):
            turns.append(self.call(*self.pick()))
            if self.rng.random() < 0.15:
                turns.append(self.answer())
        return turns

    def answer(self) -> Turn:
        probe, value = self.pick(fresh=False)
        fact = self.results.get((probe.tool, value)) or probe.result(value, self.rng)
        text = self.say(ANSWERS, thing=probe.thing.format(v=value).capitalize(),
                        fact=fact.splitlines()[0][:80])
        return {"kind": "text", "text": text}

    def plan(self, steps: tuple[str, ...] | list[str] | None = None) -> Turn:
        return {"kind": "plan", "steps": list(steps or self.d.steps)}

    def step(self, i: int) -> Turn:
        return {"kind": "step", "step": f"s{i}"}

    def opening(self) -> list[Turn]:
        """A plan and a varied, healthy prefix: the loop (if any) starts after it."""
        return [self.plan(), *self.explore(self.rng.randint(0, 4))]


def drift(rng: random.Random, args: dict[str, Any], i: int) -> dict[str, Any]:
    """Cosmetic drift: whitespace, a trailing slash, key order, a flag that does nothing."""
    if i == 0:
        return dict(args)
    key, value = next(iter(args.items()))
    value = str(value)
    choices = [
        {key: f" {value} "},
        {key: value + ("/" if "/" in value else "  ")},
        {key: value, "verbose": True},
        {key: value, "timeout": rng.choice([10, 30, 60])},
        {key: value, "request_id": f"req-{rng.randint(1000, 9999)}"},
        {key: value.replace(" ", "  ")},
    ]
    return dict(reversed(list(rng.choice(choices).items())))


# -- loop patterns: each returns (turns, loop_start as an index into the turns) -----------------


def exact_repeat(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    probe, value = g.pick()
    first = g.call(probe, value)
    start = len(turns) + 1
    turns += [first] + [g.call(probe, value, AGAIN) for _ in range(g.rng.randint(3, 7))]
    return turns, start


def arg_drift(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    probe, value = g.pick()
    start = len(turns) + 1
    for i in range(g.rng.randint(4, 8)):
        turns.append(g.call(probe, value, AGAIN if i else EXPLORE,
                            args=drift(g.rng, {probe.arg: value}, i)))
    return turns, start


def error_repeat(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    tool = g.d.error_tool
    start = len(turns) + 1
    for i in range(g.rng.randint(4, 7)):
        value = g.rng.choice(tool.values)
        turns.append({"kind": "call", "tool": tool.tool,
                      "args": {tool.arg: value, **({"attempt": i} if g.rng.random() < .3 else {})},
                      "result": g.d.error_text(value, g.rng), "error": True,
                      "thought": g.say(RETRY if i else EXPLORE, thing=tool.thing.format(v=value))})
        if g.rng.random() < 0.3:  # other work in between does not clear the error
            turns.append(g.call(*g.pick()))
    return turns, start


def cycle(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    period = g.rng.randint(2, 5)
    block = [g.pick() for _ in range(period)]
    start = len(turns) + period
    for r in range(g.rng.randint(2, 3)):
        turns += [g.call(p, v, AGAIN if r else EXPLORE) for p, v in block]
    return turns, start


def same_info_tools(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    entity = f"#{g.rng.randint(100, 9999)}"
    status = (f"{g.d.entity} {entity}: state=in_progress, {g.rng.randint(10, 90)}% complete, "
              f"blocked on {g.rng.choice(['approval', 'quota', 'a lock', 'upstream'])}")
    start = len(turns) + 1
    tools = list(g.d.status_tools)
    for i in range(g.rng.randint(4, 8)):
        tool = tools[i % len(tools)] if i < len(tools) else g.rng.choice(tools)
        turns.append({"kind": "call", "tool": tool, "args": {"id": entity},
                      "result": status, "thought": g.say(AGAIN if i else EXPLORE,
                                                         thing=f"{g.d.entity} {entity}")})
    return turns, start


def paraphrase_stagnation(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    answers = g.rng.sample(STUCK_ANSWERS, g.rng.randint(4, 6))
    subject = g.rng.choice([p.thing.format(v=v) for p in g.d.probes for v in p.values])
    start = len(turns) + 1
    for text in answers:
        turns.append({"kind": "text", "text": text.format(x=subject)})
    return turns, start


def identical_replan(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    probe, value = g.pick()
    start = len(turns)
    for _ in range(g.rng.randint(2, 4)):
        turns.append(g.plan())
        turns.append(g.call(probe, value, AGAIN))
    return turns, start


def reset_resume(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    probe, value = g.pick()
    start = len(turns) + 1
    turns += [g.call(probe, value), g.call(probe, value, AGAIN), {"kind": "reset"}]
    turns += [g.call(probe, value, AGAIN) for _ in range(g.rng.randint(2, 4))]
    return turns, start


def edit_test_oscillation(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    fixes = [f"patch-{g.rng.randint(10, 99)}", f"patch-{g.rng.randint(100, 999)}"]
    failures = [f"FAILED {g.rng.randint(1, 9)} tests: test_{w} assertion error"
                for w in g.rng.sample(["login", "refund", "export", "retry"], 2)]
    start = len(turns) + 4
    for _ in range(g.rng.randint(2, 3)):
        for fix, failure in zip(fixes, failures, strict=True):
            turns.append({"kind": "call", "tool": g.d.act_tool, "args": {"change": fix},
                          "result": "applied", "thought": f"Trying {fix} instead."})
            turns.append({"kind": "call", "tool": "run_checks", "args": {},
                          "result": failure, "thought": "Running the checks."})
    return turns, start


def stale_poll(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    entity = f"job-{g.rng.randint(100, 999)}"
    result = f"{g.d.entity} {entity}: status=pending, queued behind {g.rng.randint(2, 9)} jobs"
    start = len(turns) + 1
    for _ in range(g.rng.randint(4, 8)):
        turns.append({"kind": "call", "tool": g.d.poll_tool, "args": {"id": entity},
                      "result": result, "thought": g.say(POLL, thing=f"{g.d.entity} {entity}")})
    return turns, start


def query_reformulation(g: Gen) -> tuple[list[Turn], int]:
    turns = g.opening()
    probe = g.rng.choice(g.d.probes)
    value = g.rng.choice(probe.values)
    result = probe.result(value, g.rng)
    words = ["", " error", " fix", " how to", " issue", " problem", " help"]
    start = len(turns) + 1
    for i, extra in enumerate(g.rng.sample(words, g.rng.randint(4, 6))):
        turns.append({"kind": "call", "tool": probe.tool, "args": {probe.arg: value + extra},
                      "result": result, "thought": g.say(AGAIN if i else EXPLORE,
                                                         thing=probe.thing.format(v=value))})
    return turns, start


def noisy_repeat(g: Gen) -> tuple[list[Turn], int]:
    """The same call; each result stamped with a fresh time or request id."""
    turns = g.opening()
    probe, value = g.pick()
    body = probe.result(value, g.rng)
    style = g.rng.randrange(4)  # one tool, one output format
    start = len(turns) + 1
    for i in range(g.rng.randint(4, 7)):
        stamp = [
            f"fetched at 2026-03-0{g.rng.randint(1, 9)}T1{g.rng.randint(0, 9)}:0{i}:{10 + i}Z",
            f"request_id: {g.rng.randint(10**6, 10**7)}",
            f"as of {g.rng.randint(10, 23)}:{10 + i}:0{g.rng.randint(0, 9)}",
            f"(took {g.rng.randint(5, 900)}ms)",
        ][style]
        turn = g.call(probe, value, AGAIN if i else EXPLORE)
        turns.append({**turn, "result": f"{body}\n{stamp}"})
    return turns, start


def jitter_repeat(g: Gen) -> tuple[list[Turn], int]:
    """The same probe again and again; its gauges wobble by measurement noise only."""
    turns = g.opening()
    tool = g.rng.choice(["memory_usage", "resource_stats", "node_metrics", "pool_status"])
    used, free = g.rng.uniform(1000, 9000), g.rng.uniform(5000, 90000)
    percent, workers = g.rng.uniform(20, 90), g.rng.choice([4, 8])
    start = len(turns) + 1
    for i in range(g.rng.randint(4, 7)):
        wobble = 1 + g.rng.uniform(-0.001, 0.001)
        result = (f'{{"used_mb": {used * wobble:.1f}, "free_mb": {free / wobble:.1f}, '
                  f'"used_percent": {percent:.1f}, "workers": {workers}}}')
        turns.append({"kind": "call", "tool": tool, "args": {}, "result": result,
                      "thought": g.say(AGAIN if i else EXPLORE, thing="the resource usage")})
    return turns, start


def revise_loop(g: Gen) -> tuple[list[Turn], int]:
    """Call, answer, sent back by the critic, the same call again, a reworded answer..."""
    turns = g.opening()
    probe, value = g.pick()
    subject = probe.thing.format(v=value)
    answers = g.rng.sample(STUCK_ANSWERS, 4)
    start = len(turns) + 2
    for i in range(g.rng.randint(3, 4)):
        turns.append(g.call(probe, value, AGAIN if i else EXPLORE))
        turns.append({"kind": "text", "text": answers[i].format(x=subject)})
    return turns, start


# -- healthy patterns: each returns the turns -------------------------------------------------


def _finish(g: Gen, turns: list[Turn], steps: int = 1) -> list[Turn]:
    for i in range(steps):
        turns += [g.answer(), g.step(i + 1)]
    return turns


def varied_work(g: Gen) -> list[Turn]:
    turns = [g.plan()]
    for i in range(len(g.d.steps)):
        turns += g.explore(g.rng.randint(2, 4))
        turns += [g.answer(), g.step(i + 1)]
    return turns


def _progress(g: Gen, entity: str, i: int, n: int) -> str:
    done = min(100, round(100 * (i + 1) / n))
    style = g.rng.choice(["{e}: {p}% ({k} of {n} items)", "{e} running - {k}/{n} processed",
                          "{e}: state=running progress={p}%"])
    return style.format(e=entity, p=done, k=i + 1, n=n)


def _poll_until_done(g: Gen, fewest: int, most: int) -> list[Turn]:
    turns = g.opening()
    entity = f"{g.d.entity} #{g.rng.randint(100, 999)}"
    n = g.rng.randint(fewest, most)
    for i in range(n):
        turns.append({"kind": "call", "tool": g.d.poll_tool, "args": {"id": entity},
                      "result": _progress(g, entity, i, n + 1),
                      "thought": g.say(POLL, thing=entity)})
    turns.append({"kind": "call", "tool": g.d.poll_tool, "args": {"id": entity},
                  "result": f"{entity}: done, finished without errors",
                  "thought": g.say(POLL, thing=entity)})
    return _finish(g, turns)


def polling_until_done(g: Gen) -> list[Turn]:
    return _poll_until_done(g, 3, 14)


def poll_wait(g: Gen) -> list[Turn]:
    turns = g.opening()
    entity = f"{g.d.entity} #{g.rng.randint(100, 999)}"
    n = g.rng.randint(3, 9)
    wait = g.rng.choice(["sleep", "wait", "wait_seconds"])
    seconds = g.rng.choice([10, 15, 30, 60])
    k = 0
    for _ in range(n):
        if g.rng.random() > 0.35:
            k += 1  # sometimes nothing moved between two checks: the wait is why we look again
        turns.append({"kind": "call", "tool": g.d.poll_tool, "args": {"id": entity},
                      "result": _progress(g, entity, k, n + 2),
                      "thought": g.say(POLL, thing=entity)})
        turns.append({"kind": "call", "tool": wait, "args": {"seconds": seconds},
                      "result": f"waited {seconds}s", "thought": g.say(WAIT)})
    turns.append({"kind": "call", "tool": g.d.poll_tool, "args": {"id": entity},
                  "result": f"{entity}: complete", "thought": g.say(POLL, thing=entity)})
    return _finish(g, turns)


def retry_success(g: Gen) -> list[Turn]:
    turns = g.opening()
    tool = g.d.error_tool
    for _ in range(g.rng.randint(2, 4)):
        value = g.rng.choice(tool.values)
        for _ in range(g.rng.randint(1, 2)):
            turns.append({"kind": "call", "tool": tool.tool, "args": {tool.arg: value},
                          "result": g.d.error_text(value, g.rng), "error": True,
                          "thought": g.say(EXPLORE, thing=tool.thing.format(v=value))})
        turns.append({"kind": "call", "tool": tool.tool, "args": {tool.arg: value},
                      "result": tool.result(value, g.rng), "thought": g.say(RETRY)})
        turns += g.explore(g.rng.randint(1, 2))
    return _finish(g, turns)


def same_thought_diff_args(g: Gen) -> list[Turn]:
    turns = [g.plan()]
    probe = max(g.d.probes, key=lambda p: len(p.values))
    thought = g.rng.choice(EXPLORE)
    for value in probe.values:
        turns.append({**g.call(probe, value), "thought": thought.format(thing="the next one")})
    turns += g.explore(g.rng.randint(1, 3))
    return _finish(g, turns)


def templated_progress(g: Gen) -> list[Turn]:
    turns = g.opening()
    n = g.rng.randint(4, 12)
    template = g.rng.choice(BATCH)
    ack = g.rng.choice(["ok", "imported", "done", "accepted"])
    for i in range(n):
        turns.append({"kind": "call", "tool": g.d.act_tool, "args": {"batch": i + 1, "of": n},
                      "result": ack, "thought": template.format(i=i + 1, n=n)})
    return _finish(g, turns)


def replan_different(g: Gen) -> list[Turn]:
    turns = g.opening()
    tool = g.d.error_tool
    value = g.rng.choice(tool.values)
    turns.append({"kind": "call", "tool": tool.tool, "args": {tool.arg: value},
                  "result": g.d.error_text(value, g.rng), "error": True,
                  "thought": g.say(EXPLORE, thing=tool.thing.format(v=value))})
    turns.append(g.plan([f"work around {tool.tool}", *g.d.steps[1:]]))
    turns += g.explore(g.rng.randint(2, 4))
    return _finish(g, turns, 2)


def debugging_progress(g: Gen) -> list[Turn]:
    turns = g.opening()
    tool = g.d.error_tool
    value = g.rng.choice(tool.values)
    errors = [g.d.error_text(value, g.rng), *g.d.other_errors]
    for i, error in enumerate(g.rng.sample(errors, len(errors))):
        turns.append({"kind": "call", "tool": tool.tool, "args": {tool.arg: value, "fix": i},
                      "result": error, "error": True,
                      "thought": g.say(FIX, thing=g.rng.choice(["command", "config", "input"]))})
    turns.append({"kind": "call", "tool": tool.tool, "args": {tool.arg: value, "fix": 9},
                  "result": tool.result(value, g.rng), "thought": "That worked."})
    return _finish(g, turns)


def reread_after_change(g: Gen) -> list[Turn]:
    turns = g.opening()
    for _ in range(g.rng.randint(1, 3)):
        probe, value = g.pick()
        turns.append(g.call(probe, value))
        turns.append({"kind": "call", "tool": g.d.act_tool,
                      "args": {"target": value, "change": g.rng.randint(1, 99)},
                      "result": "applied", "thought": "Changing it."})
        turns.append(g.call(probe, value, AGAIN, same=False))  # the change shows
    return _finish(g, turns)


def check_each_step(g: Gen) -> list[Turn]:
    """The same health check after every completed step: same result, but steps move on."""
    turns = [g.plan()]
    probe, value = g.pick()
    for i in range(g.rng.randint(2, 4)):
        turns.append(g.call(probe, value, AGAIN if i else EXPLORE))
        turns += g.explore(g.rng.randint(1, 2))
        turns += [g.answer(), g.step(i + 1)]
    return turns


def verify_once(g: Gen) -> list[Turn]:
    """Act, then read the same thing once more to verify: one repeat, then move on."""
    turns = g.opening()
    for _ in range(g.rng.randint(1, 3)):
        probe, value = g.pick()
        turns.append(g.call(probe, value))
        turns.append({"kind": "call", "tool": g.d.act_tool,
                      "args": {"target": value, "note": g.rng.randint(1, 99)},
                      "result": g.rng.choice(["ok", "done", "no change needed"]),
                      "thought": "Applying the change."})
        turns.append(g.call(probe, value, AGAIN))  # unchanged: the check confirms it
        turns += g.explore(g.rng.randint(1, 2))
    return _finish(g, turns)


def negative_findings(g: Gen) -> list[Turn]:
    """Several different places checked; each says there is nothing there."""
    turns = g.opening()
    answer = g.rng.choice(["No errors found in the last 24 hours.", "0 matches.",
                           "no results", "Nothing found.", "[]", "No open incidents."])
    for _ in range(g.rng.randint(3, 6)):
        probe, value = g.pick()
        turns.append({**g.call(probe, value), "result": answer})
    turns += g.explore(g.rng.randint(1, 2))
    return _finish(g, turns)


def long_poll(g: Gen) -> list[Turn]:
    """A slow job polled many times; the figures move on every poll."""
    return _poll_until_done(g, 15, 22)


def pagination(g: Gen) -> list[Turn]:
    turns = g.opening()
    probe = g.rng.choice(g.d.probes)
    value = g.rng.choice(probe.values)
    pages = g.rng.randint(3, 9)
    for page in range(1, pages + 1):
        rows = ", ".join(f"item-{g.rng.randint(1000, 9999)}" for _ in range(4))
        turns.append({"kind": "call", "tool": probe.tool, "args": {probe.arg: value, "page": page},
                      "result": f"page {page}/{pages}: {rows}",
                      "thought": g.say(EXPLORE, thing=f"page {page}")})
    return _finish(g, turns)


def long_run(g: Gen) -> list[Turn]:
    turns = [g.plan()]
    builders = [polling_until_done, retry_success, reread_after_change, pagination]
    for i in range(g.rng.randint(2, 3)):
        turns += [t for t in g.rng.choice(builders)(g) if t["kind"] not in ("plan", "step")]
        turns.append(g.step(i + 1))
    return turns


LOOPS: dict[str, Callable[[Gen], tuple[list[Turn], int]]] = {
    f.__name__: f
    for f in (exact_repeat, arg_drift, error_repeat, cycle, same_info_tools,
              paraphrase_stagnation, identical_replan, reset_resume, edit_test_oscillation,
              stale_poll, query_reformulation, noisy_repeat, revise_loop, jitter_repeat)
}
HEALTHY: dict[str, Callable[[Gen], list[Turn]]] = {
    f.__name__: f
    for f in (varied_work, polling_until_done, poll_wait, retry_success,
              same_thought_diff_args, templated_progress, replan_different, debugging_progress,
              reread_after_change, check_each_step, pagination, long_run, verify_once,
              long_poll, negative_findings)
}


def generate(split: str, seed: int, domains: tuple[str, ...], per_pattern: int) -> list[dict]:
    rng = random.Random(seed)
    table = _domains()
    rows: list[dict] = []
    for name, loop in LOOPS.items():
        for i in range(per_pattern):
            domain = table[domains[i % len(domains)]]
            turns, start = loop(Gen(random.Random(rng.random()), domain))
            rows.append(_row(split, name, i, domain, "loop", turns, start))
    for name, healthy in HEALTHY.items():
        for i in range(per_pattern):
            domain = table[domains[i % len(domains)]]
            turns = healthy(Gen(random.Random(rng.random()), domain))
            rows.append(_row(split, name, i, domain, "healthy", turns, None))
    return rows


def _row(split, pattern, i, domain, label, turns, start) -> dict:
    return {"id": f"{split}-{pattern}-{i:02d}", "split": split, "pattern": pattern,
            "domain": domain.name, "label": label, "loop_start": start, "turns": turns}


def write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    out = Path(__file__).parent / "datasets"
    write(out / "loops.jsonl", generate("dev", 1101, DEV_DOMAINS, 5))
    write(out / "loops_holdout.jsonl", generate("holdout", 2202, HOLDOUT_DOMAINS, 5))


if __name__ == "__main__":
    main()
