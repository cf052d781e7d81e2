"""The judge model for the LLM-judge evaluator: configured only when OPENAI_API_KEY is set."""

from __future__ import annotations

from evals.evaluators.base import EvalContext
from stack.settings import Settings

DEFAULT_JUDGE_MODEL = "gpt-4o-mini"


def judge_context(settings: Settings, model: str | None = None) -> EvalContext:
    """An EvalContext with a ChatOpenAI judge, or none (and why) without an API key.

    The judge model is `model`, else WAKEFUL_MODEL_CRITIC, else WAKEFUL_MODEL, else a default.
    """
    if settings.openai_api_key is None:
        return EvalContext()
    from langchain_openai import ChatOpenAI

    name = model or settings.model_for("critic") or DEFAULT_JUDGE_MODEL
    judge = ChatOpenAI(
        model=name,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=0,
        max_retries=2,
    )
    return EvalContext(judge=judge, judge_label=f"openai:{name}")
