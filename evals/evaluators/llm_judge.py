"""judge: a language model grades the outcome against a rubric (openevals LLM-as-judge).

The one evaluator that is neither offline nor deterministic, so it runs only when a judge
model is configured (OPENAI_API_KEY, see evals/judge_model.py) and is otherwise skipped,
with the reason in the report. Structured output goes through function calling, which
every OpenAI-compatible endpoint supports.
"""

from __future__ import annotations

from openevals.llm import create_async_llm_as_judge

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.evaluators.expected_calls import describe_call
from evals.tool_calls import tool_calls
from evals.trace import Trace

PROMPT = """You grade the work of an autonomous agent.

<goal>
{inputs}
</goal>

<rubric>
{rubric}
</rubric>

<tool_calls>
{tool_calls}
</tool_calls>

<final_output>
{outputs}
</final_output>

Does the agent's work meet the rubric? Answer true only if it does."""


class JudgeExpect(Expectation):
    rubric: str


def _calls(trace: Trace) -> str:
    calls = [describe_call(c) for c in tool_calls(trace)]
    return "\n".join(calls) if calls else "(none)"


async def evaluate(trace: Trace, expect: JudgeExpect, context: EvalContext) -> Score:
    if context.judge is None:
        return Score("judge", True, 1.0, "skipped", skipped=context.judge_unavailable)
    judge = create_async_llm_as_judge(
        prompt=PROMPT,
        judge=context.judge,
        feedback_key="judge",
        continuous=False,
        use_reasoning=True,
        structured_output_kwargs={"method": "function_calling"},
    )
    output = trace.task.get("output") or ""
    result = await judge(
        inputs=trace.task.get("goal", ""),
        outputs=output or "(no output)",
        rubric=expect.rubric,
        tool_calls=_calls(trace),
    )
    passed = bool(result["score"])
    reasoning = str(result.get("comment") or "")
    return Score(
        evaluator="judge",
        passed=passed,
        score=1.0 if passed else 0.0,
        detail=reasoning[:500] or ("meets the rubric" if passed else "does not meet the rubric"),
        metrics={"judge_model": context.judge_label},
    )


EVALUATOR = Evaluator(
    name="judge",
    description="an LLM grades the outcome against a rubric (only with a configured model)",
    expectation=JudgeExpect,
    evaluate=evaluate,
)
