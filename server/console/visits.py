"""The last time each token opened the landing page, kept in the LangGraph store (the
same Postgres store that holds L2 summaries), so "since you were away" means since then.

A visit that follows the previous one within `SAME_VISIT` keeps the previous "since": a
reload does not wipe the summary an operator is reading.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from langgraph.store.base import BaseStore

from server.console.session import ConsoleUser
from stack.errors import ConfigError

NAMESPACE = ("wakeful-console", "visits")
SAME_VISIT = timedelta(minutes=30)
FIRST_VISIT = timedelta(hours=24)  # what a token that never visited sees


async def since_last_visit(store: BaseStore, user: ConsoleUser, now: datetime) -> datetime:
    """When this token's current visit's summary starts; records the visit."""
    key = f"{user.tenant}/{user.name}"
    item = await store.aget(NAMESPACE, key)
    since = now - FIRST_VISIT
    if item is not None:
        seen = datetime.fromisoformat(item.value["seen_at"])
        since = datetime.fromisoformat(item.value["since"]) if now - seen < SAME_VISIT else seen
    await store.aput(NAMESPACE, key, {"since": since.isoformat(), "seen_at": now.isoformat()})
    return since


def parse_since(raw: str, now: datetime) -> datetime:
    """A chosen start: an ISO time (UTC when it names no zone) or `<n>h` / `<n>d` ago."""
    text = raw.strip()
    try:
        if text[-1:] in ("h", "d") and text[:-1].isdigit():
            amount = int(text[:-1])
            return now - (timedelta(hours=amount) if text[-1] == "h" else timedelta(days=amount))
        moment = datetime.fromisoformat(text)
    except (ValueError, OverflowError):
        raise ConfigError(
            f"since: {raw!r} is neither an ISO time (2030-01-01T08:00) nor 12h / 3d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
