from __future__ import annotations

import pytest

from tools.retry import RetryableToolError, RetryPolicy, is_retryable


def test_delays_double_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=100, jitter=0.25)

    assert policy.delay(1, rand=lambda: 0.0) == 0.5
    assert policy.delay(3, rand=lambda: 0.0) == 2.0
    assert policy.delay(3, rand=lambda: 1.0) == 2.5


def test_delay_is_capped() -> None:
    assert RetryPolicy(base_delay_s=1, max_delay_s=3).delay(10, rand=lambda: 1.0) == 3


@pytest.mark.parametrize(
    ("exc", "scope", "expected"),
    [
        (RetryableToolError("busy"), "write", True),
        (TimeoutError(), "read", True),
        (ConnectionResetError(), "read", True),
        (TimeoutError(), "write", False),
        (ConnectionError(), "external", False),
        (ValueError("bad"), "read", False),
    ],
)
def test_what_is_retryable(exc: Exception, scope: str, expected: bool) -> None:
    assert is_retryable(exc, scope) is expected  # type: ignore[arg-type]
