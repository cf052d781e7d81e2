"""Cut long tool output down to a size the model can take, keeping its head and its tail."""

from __future__ import annotations


def marker(removed: int) -> str:
    """The text that stands in for `removed` characters cut from the middle."""
    return f"… [truncated {removed} chars] …"


def truncate(text: str, max_chars: int) -> str:
    """`text` if it fits in `max_chars`, else its head and tail around a marker.

    The result never exceeds `max_chars`; the head gets the extra character of an odd split.
    When `max_chars` is too small to hold the marker, the head alone is kept.
    """
    if len(text) <= max_chars:
        return text
    budget = max_chars - len(marker(len(text)))  # the widest marker we could need
    if budget <= 0:
        return text[:max_chars]
    head = (budget + 1) // 2
    tail = budget - head
    removed = len(text) - head - tail
    return text[:head] + marker(removed) + (text[-tail:] if tail else "")
