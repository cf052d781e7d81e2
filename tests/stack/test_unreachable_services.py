"""A configured URL that does not answer is an error naming its variable, at once."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stack.errors import ServiceUnavailable
from stack.graphdb import ensure_graphdb
from stack.postgres import ensure_postgres
from stack.qdrant import open_qdrant
from stack.settings import Settings


@pytest.fixture
def closed_port() -> int:
    """A loopback port nobody listens on: bound once by us, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


CASES: list[tuple[str, Callable[[Settings], Any], str]] = [
    ("DATABASE_URL", ensure_postgres, "postgresql://wakeful:s3cret-pw@127.0.0.1:{port}/wakeful"),
    ("QDRANT_URL", open_qdrant, "http://127.0.0.1:{port}"),
    ("NEO4J_URI", ensure_graphdb, "bolt://127.0.0.1:{port}"),
]


@pytest.mark.parametrize(("variable", "connect", "url"), CASES, ids=[c[0] for c in CASES])
def test_closed_port_is_an_error_naming_the_variable(
    tmp_path: Path, closed_port: int, variable: str, connect: Callable[[Settings], Any], url: str
) -> None:
    settings = Settings(
        data_dir=tmp_path, **{variable: url.format(port=closed_port)},
        QDRANT_API_KEY="s3cret-pw", NEO4J_PASSWORD="s3cret-pw",
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as raised:
        connect(settings)
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert message.startswith(variable)
    assert str(closed_port) in message
    assert "s3cret-pw" not in message
    assert not any(tmp_path.iterdir())  # no embedded fallback started anything
