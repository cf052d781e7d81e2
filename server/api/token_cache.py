"""Tokens recently verified by this process, for POST /tasks: the token's digest → its
principal, for up to TTL_SECONDS. A hit is not trusted on its own: the caller hands the
digest to the statement that creates the task (wakeful_submit_task), which refuses a token
revoked or expired since, so a revoked token is refused exactly as before. A token's tenant
and role never change, so they may be cached. Misses (and refusals) are not cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict

from server.services import Principal

TTL_SECONDS = 30.0  # then verified afresh, which also marks the token as used
MAX_ENTRIES = 4096


class TokenCache:
    def __init__(self, *, ttl: float = TTL_SECONDS, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, verified = entry
        if time.monotonic() - verified > self.ttl:
            del self._entries[digest]
            return None
        return principal

    def put(self, digest: str, principal: Principal) -> None:
        self._entries[digest] = (principal, time.monotonic())
        self._entries.move_to_end(digest)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def forget(self, digest: str) -> None:
        self._entries.pop(digest, None)
