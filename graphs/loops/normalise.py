"""Canonical forms: what makes two calls the same call, two results the same information,
two errors the same error.

- arguments: parsed JSON, keys sorted, strings whitespace-normalised, `None` dropped, and
  declared no-op keys (`verbose`, `timeout`, `request_id`, ...) ignored;
- results: whitespace-normalised, with volatile tokens (timestamps, uuids, durations)
  masked, then hashed;
- errors: a class, with everything instance-specific (quoted values, paths, urls, ids,
  numbers) masked, so "no such file: /a/1.log" and "no such file: /b/2.log" are one error.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection
from typing import Any

_WS = re.compile(r"\s+")
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[t ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?"
    r"|\b\d{1,2}:\d{2}:\d{2}(?:\.\d+)?\b"
)
_ID_FIELD = re.compile(  # per-response ids: a new one is not new information
    r"\b(?:request|req|trace|span|correlation|message)[_ -]?id\b[\"']?\s*[:=]\s*[\"']?[\w.-]+"
    r"|\betag\b\s*[:=]\s*\S+"
)
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_DURATION = re.compile(r"\b(?:took|in|after)\s+\d+(?:\.\d+)?\s?(?:ms|s|sec|seconds)\b")
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"|`[^`\n]*`")
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_PATH = re.compile(r"(?:[a-z]:)?(?:[\\/][\w.@~+-]+)+[\\/]?|\b[\w.-]+\.(?:[a-z]{1,5})\b")
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_HEX_ID = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,}\b")
_MIXED_ID = re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[a-z])[a-z0-9][\w-]{3,}\b")  # tok_8f2a, api-7
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)*")
_TRACEBACK_LAST = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b.*$", re.M)
_MAX_ERROR = 160


def digest(text: str, size: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:size]


def squash(text: str) -> str:
    return _WS.sub(" ", text).strip()


def _canonical(value: Any, noop: Collection[str]) -> Any:
    if isinstance(value, dict):
        return {
            str(k): _canonical(v, noop)
            for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))
            if v is not None and str(k).lower() not in noop
        }
    if isinstance(value, list | tuple):
        return [_canonical(v, noop) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = squash(value)
        return text[:-1] if len(text) > 1 and text.endswith("/") else text
    return value


def canonical_args(tool: str, args: Any, noop_keys: Collection[str] = ()) -> str:
    """The arguments as canonical JSON. `noop_keys` holds `key` (any tool) or `tool:key`."""
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            args = squash(args)
    noop = {
        k.split(":", 1)[1].lower() if ":" in k else k.lower()
        for k in noop_keys
        if ":" not in k or k.split(":", 1)[0] == tool
    }
    return json.dumps(_canonical(args or {}, noop), sort_keys=True, separators=(",", ":"))


def result_text(text: str) -> str:
    """A result with its volatile tokens masked (a poll's clock is not new information)."""
    text = squash(str(text)).lower()
    text = _TIMESTAMP.sub("<time>", text)
    text = _UUID.sub("<uuid>", text)
    text = _ID_FIELD.sub("<id>", text)
    return _DURATION.sub("<duration>", text)


def error_class(text: str) -> str:
    """The error without its instance: the last exception line of a traceback (or the
    first line), with quoted values, urls, paths, emails, ids and numbers masked."""
    text = str(text)
    raised = [m.group(0) for m in _TRACEBACK_LAST.finditer(text)] if "Traceback" in text else []
    lines = [line for line in text.splitlines() if line.strip()]
    line = (raised[-1] if raised else lines[0] if lines else "").lower()
    for pattern, mask in (
        (_QUOTED, "<q>"),
        (_URL, "<url>"),
        (_EMAIL, "<email>"),
        (_UUID, "<id>"),
        (_PATH, "<path>"),
        (_HEX_ID, "<id>"),
        (_MIXED_ID, "<id>"),
        (_NUMBER, "<n>"),
    ):
        line = pattern.sub(mask, line)
    return squash(line)[:_MAX_ERROR]


_DECIMAL = re.compile(r"[-+]?\d+(?:\.\d+)?")  # "3.2.1" reads as 3.2 and 1
_SMALL_INT = 1000  # counts below this carry information: 3 of 5 replicas is not 4 of 5


def numbers_of(text: str) -> tuple[str, list[float]]:
    """A result's skeleton (its numbers masked) and its numbers, for the jitter test."""
    return _DECIMAL.sub("#", text), [float(n) for n in _DECIMAL.findall(text)]


def within_jitter(a: list[float], b: list[float], tolerance: float) -> bool:
    """Whether two results' numbers differ only by measurement noise: every pair within
    `tolerance` (relative), small integers equal. 2345.6 MB vs 2345.8 MB is noise."""
    if len(a) != len(b) or tolerance <= 0:
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if x.is_integer() and y.is_integer() and max(abs(x), abs(y)) < _SMALL_INT:
            return False
        if abs(x - y) > tolerance * max(abs(x), abs(y)):
            return False
    return True
