"""When a failed tool call is tried again, and how long to wait before each retry."""

from __future__ import annotations

import random
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from tools.spec import Scope


class RetryableToolError(Exception):
    """A transient failure that left nothing changed, so the call is safe to try again.

    Tools raise it (or a subclass) to ask for a retry; it is the only error that is retried
    for write and external tools.
    """


class CallOutcomeUnknown(Exception):
    """The call was sent but no answer came back (e.g. the connection broke mid-call): it may
    or may not have taken effect. Never retried for write and external tools; their outcome
    is recorded as unknown for a person to settle."""


class RetryPolicy(BaseModel):
    """Exponential backoff with jitter: delay n is base * 2**(n-1), times 1..1+jitter, capped."""

    model_config = ConfigDict(frozen=True)

    base_delay_s: float = Field(default=0.25, gt=0)
    max_delay_s: float = Field(default=8.0, gt=0)
    jitter: float = Field(default=0.25, ge=0, le=1)

    def delay(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        exponential = self.base_delay_s * 2 ** (retry - 1)
        return min(self.max_delay_s, exponential * (1 + self.jitter * rand()))


def is_retryable(exc: BaseException, scope: Scope) -> bool:
    """Whether a failure may be retried for a tool of `scope`.

    Timeouts and connection errors are retried only for read tools: a write or external
    tool that timed out may have taken effect, so repeating it could do it twice.
    """
    if isinstance(exc, RetryableToolError):
        return True
    return scope == "read" and isinstance(exc, TimeoutError | ConnectionError)


def unknown_outcome_reason(exc: BaseException) -> str | None:
    """Why a side-effecting call that raised `exc` may still have taken effect, or None when
    the error says it did not (the tool answered with an error, or nothing was sent).

    `timeout`: no answer within the tool's timeout; `connection_lost`: the connection broke
    after the call was sent. (A cancelled call is `canceled`; the executor sees that itself.)
    """
    if isinstance(exc, RetryableToolError):
        return None
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, CallOutcomeUnknown):
        return "connection_lost"
    return None
