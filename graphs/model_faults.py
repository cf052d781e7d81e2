"""What went wrong with a model call, said so that a person can act on it.

Every message names the role, the model and the endpoint it was asked at, then the cause
in the words of whatever found it (the HTTP client, the output parser), on one line.
"""

from __future__ import annotations

import re
from typing import Any

from stack.errors import WakefulError

# LangChain and pydantic end their messages with a link; it says nothing about this call.
_LINKS = re.compile(r"\s*For (troubleshooting|further information),? visit:?\s*\S+")
MAX_PROBLEM_CHARS = 600


def one_line(text: str, limit: int = MAX_PROBLEM_CHARS) -> str:
    """A cause as one line: links dropped, white space folded, cut at `limit` characters."""
    folded = " ".join(_LINKS.sub("", text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def model_name(role: str, label: str, endpoint: str | None) -> str:
    """`planner model openai:gpt-4o-mini at https://api.openai.com/v1`."""
    where = f" at {endpoint}" if endpoint else ""
    return f"{role} model {label}{where}"


class ModelCallError(WakefulError):
    """A model call failed."""

    def __init__(self, who: str, problem: str, usage: dict[str, Any] | None = None) -> None:
        super().__init__(f"{who}: {problem}")
        self.problem = problem
        # What the run had spent when it failed, this call's tokens included.
        self.usage = usage


class ModelEndpointError(ModelCallError):
    """The model's endpoint did not answer, or answered with an error."""


class ModelOutputError(ModelCallError):
    """The model's answer could not be read, even when asked again."""


class NoChoices(ValueError):
    """The endpoint answered with an empty `choices` list (nothing to read)."""


class UnreadableReply(Exception):
    """One reply could not be read; `problem` is the parser's own message."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
