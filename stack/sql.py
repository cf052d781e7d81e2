"""Named SQL queries loaded from .sql files, in the procrastinate style.

A file holds sections headed `-- name --`; `load_queries(path)["name"]` is that query.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_HEADER = re.compile(r"^-- ([a-z0-9_]+) --$", re.MULTILINE)


@cache
def load_queries(path: Path) -> dict[str, str]:
    text = path.read_text()
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}
