from __future__ import annotations

import pytest

from tools.truncation import marker, truncate


def test_short_text_is_unchanged() -> None:
    assert truncate("hello", 5) == "hello"


@pytest.mark.parametrize("max_chars", [40, 41, 100, 999])
def test_long_text_keeps_head_and_tail_within_the_limit(max_chars: int) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(5_000))

    result = truncate(text, max_chars)

    head, _, rest = result.partition("… [truncated ")
    removed = int(rest.split(" ")[0])
    tail = rest.split("chars] …", 1)[1]
    assert len(result) <= max_chars
    assert text.startswith(head) and text.endswith(tail)
    assert len(head) >= len(tail) >= 1
    assert len(head) + removed + len(tail) == len(text)
    assert marker(removed) in result


def test_limit_smaller_than_the_marker_keeps_the_head() -> None:
    assert truncate("x" * 100, 10) == "x" * 10
