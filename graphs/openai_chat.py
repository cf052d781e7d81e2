"""ChatOpenAI that refuses an answer with nothing in it, with an error that says so.

An OpenAI-compatible server may answer 200 with an empty `choices` list (a proxy's content
filter, an overloaded vLLM); LangChain then fails with a bare IndexError further up.
"""

from __future__ import annotations

from typing import Any

from langchain_core.outputs import ChatResult
from langchain_openai import ChatOpenAI

from graphs.model_faults import NoChoices


class CheckedChatOpenAI(ChatOpenAI):
    def _create_chat_result(self, response: Any, generation_info: dict | None = None) -> ChatResult:
        result = super()._create_chat_result(response, generation_info)
        if not result.generations:
            raise NoChoices(NoChoices.__doc__)
        return result
