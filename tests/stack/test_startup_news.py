"""News of services starting reaches the innermost display only, with the time taken, and
a failed start is reported as failed (then raised as before)."""

from __future__ import annotations

import pytest

from stack.startup import ServiceNews, listening, starting


def test_the_innermost_listener_hears_starts_and_readiness() -> None:
    outer: list[ServiceNews] = []
    inner: list[ServiceNews] = []
    with listening(outer.append):
        with listening(inner.append), starting("Qdrant", "local mode"):
            pass
        with starting("FalkorDB"):
            pass
    assert [(n.service, n.seconds is None) for n in inner] == [("Qdrant", True), ("Qdrant", False)]
    ready = inner[1]
    assert ready.seconds is not None and ready.seconds >= 0 and ready.detail == "local mode"
    assert [n.service for n in outer] == ["FalkorDB", "FalkorDB"]
    with starting("nobody listens"):  # no display: nothing to tell, nothing breaks
        pass


def test_a_failed_start_is_news_too() -> None:
    heard: list[ServiceNews] = []
    with listening(heard.append), pytest.raises(RuntimeError), starting("Postgres"):
        raise RuntimeError("port taken")
    assert heard[-1].failed and heard[-1].service == "Postgres"
