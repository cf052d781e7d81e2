"""Work around FalkorDB's Bolt server writing replies in ~4 KB pieces without TCP_NODELAY.

The second piece of any reply over ~4 KB waits for the client's delayed ACK (~40 ms on
Linux): a 10k-fact 2-hop query took 54 ms instead of 11. Setting TCP_QUICKACK on the
client socket after every read removes the wait. The neo4j driver has no hook for socket
options, so this wraps its (internal) socket read; neo4j is pinned, and a test checks the
wrap is in place and large replies still arrive whole. Harmless for Neo4j.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

_lock = threading.Lock()
_ATTR = "_wakeful_quickack"


def enable_quickack() -> None:
    """Patch the driver's Bolt socket reads once per process (idempotent)."""
    from neo4j._async_compat.network import _bolt_socket

    base = _bolt_socket.BoltSocketBase
    with _lock:
        if getattr(base, _ATTR, False):
            return
        original = base.recv_into

        def recv_into(self: Any, buffer: Any, nbytes: int) -> int:
            received = original(self, buffer, nbytes)
            # A closed socket, or not TCP: nothing to speed up.
            with contextlib.suppress(OSError):
                self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            return received

        base.recv_into = recv_into
        setattr(base, _ATTR, True)
