"""The per-task PII vault: placeholders in, values out, kept in Postgres (pii_vault).

`mask` replaces what tools/pii.py finds with stable placeholders: the same value in the same
task is always the same `<KIND_n>`, across calls and runs. `unmask` puts the values back
into a tool call's arguments when the model wrote a placeholder. Only counts leave this
module for events; the values stay in the table. Queries live in tools/pii_vault.sql.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from stack.sql import load_queries
from tools.pii import KINDS, PLACEHOLDER, PiiKind, PiiMatch, find_pii

_QUERIES = Path(__file__).with_suffix(".sql")


@dataclass(frozen=True)
class Masked:
    text: str
    counts: dict[str, int] = field(default_factory=dict)  # matches replaced, per kind


class PiiVault:
    """Masks and restores personal data for tasks, the mapping in Postgres."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self._sql = load_queries(_QUERIES)

    async def mask(self, task_id: str, text: str, kinds: tuple[PiiKind, ...] = KINDS) -> Masked:
        """`text` with every match replaced by its task-stable placeholder."""
        matches = find_pii(text, kinds)
        if not matches:
            return Masked(text)
        placeholders = await self._placeholders(task_id, matches)
        parts, last = [], 0
        for match in matches:
            parts += [text[last : match.start], placeholders[match.value]]
            last = match.end
        parts.append(text[last:])
        return Masked("".join(parts), dict(Counter(m.kind for m in matches)))

    async def unmask(self, task_id: str, value: Any) -> tuple[Any, int]:
        """`value` (a call's arguments: nested dicts, lists, strings) with known placeholders
        replaced by what they stand for, and how many were replaced. Unknown ones stay."""
        found = {(m.group(1), int(m.group(2))) for m in PLACEHOLDER.finditer(_strings(value))}
        if not found:
            return value, 0
        known = await self._values(task_id, found)
        restored = Counter[str]()

        def original(match: re.Match[str]) -> str:
            value = known.get((match.group(1), int(match.group(2))))
            restored["all"] += value is not None
            return match.group() if value is None else value

        return _map_strings(value, lambda text: PLACEHOLDER.sub(original, text)), restored["all"]

    async def _placeholders(self, task_id: str, matches: list[PiiMatch]) -> dict[str, str]:
        kinds = {m.value: m.kind for m in matches}
        hashes = {value: _sha256(value) for value in kinds}
        result: dict[str, str] = {}
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(self._sql["lock_task"], {"task_id": task_id})
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                self._sql["known"], {"task_id": task_id, "hashes": list(hashes.values())}
            )
            by_hash = {r["value_sha256"]: _placeholder(r) for r in await cur.fetchall()}
            for value, sha in hashes.items():
                if sha not in by_hash:
                    row = {"task_id": task_id, "kind": kinds[value], "value": value}
                    await cur.execute(self._sql["add"], {**row, "value_sha256": sha})
                    by_hash[sha] = _placeholder({**row, **(await cur.fetchone() or {})})
                result[value] = by_hash[sha]
        return result

    async def _values(self, task_id: str, keys: set[tuple[str, int]]) -> dict[tuple[str, int], str]:
        params = {"task_id": task_id, "kinds": [k for k, _ in keys], "ns": [n for _, n in keys]}
        async with self._pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(self._sql["values_of"], params)
            return {(r["kind"], r["n"]): r["value"] for r in await cur.fetchall()}


def _placeholder(row: dict[str, Any]) -> str:
    return f"<{row['kind']}_{row['n']}>"


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _strings(value: Any) -> str:
    """Every string inside `value`, joined (to find the placeholders in one pass)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "\n".join(_strings(v) for v in value.values())
    if isinstance(value, list | tuple):
        return "\n".join(_strings(v) for v in value)
    return ""


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(v, change) for v in value]
    return value
