"""output: checks on the task's final output — equals, contains, not_contains, regex and
JSON schema. The score is the share of checks that hold.

For `json_schema` the output is read as JSON: the whole text, else its first ```json
fenced block, else the first {...} or [...] span in it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from pydantic import Field, field_validator

from evals.evaluators.base import EvalContext, Evaluator, Expectation, Score
from evals.trace import Trace

_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


class OutputExpect(Expectation):
    equals: str | None = None
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    regex: list[str] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    ignore_case: bool = False

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"regex {pattern!r}: {exc}") from None
        return value

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                Draft202012Validator.check_schema(value)
            except SchemaError as exc:
                raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return value


def parse_json(text: str) -> Any:
    """The JSON in an output, or raise ValueError."""
    candidates = [text]
    candidates += [m.group(1) for m in _FENCE.finditer(text)]
    for opener, closer in ("{}", "[]"):
        start, end = text.find(opener), text.rfind(closer)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    raise ValueError("the output holds no JSON")


def _checks(output: str, expect: OutputExpect) -> list[tuple[str, bool]]:
    fold = (lambda s: s.lower()) if expect.ignore_case else (lambda s: s)
    flags = re.IGNORECASE if expect.ignore_case else 0
    checks: list[tuple[str, bool]] = []
    if expect.equals is not None:
        checks.append(("equals", fold(output.strip()) == fold(expect.equals.strip())))
    checks += [(f"contains {s!r}", fold(s) in fold(output)) for s in expect.contains]
    checks += [
        (f"does not contain {s!r}", fold(s) not in fold(output)) for s in expect.not_contains
    ]
    checks += [(f"matches /{p}/", re.search(p, output, flags) is not None) for p in expect.regex]
    if expect.json_schema is not None:
        checks.append(_schema_check(output, expect.json_schema))
    return checks


def _schema_check(output: str, schema: dict[str, Any]) -> tuple[str, bool]:
    try:
        value = parse_json(output)
    except ValueError as exc:
        return (f"JSON schema: {exc}", False)
    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return (f"JSON schema: {where}: {errors[0].message}", False)
    return ("JSON schema", True)


def evaluate(trace: Trace, expect: OutputExpect, context: EvalContext) -> Score:
    output = trace.task.get("output") or trace.state.get("output") or ""
    checks = _checks(output, expect)
    failed = [name for name, ok in checks if not ok]
    share = (len(checks) - len(failed)) / len(checks) if checks else 1.0
    return Score(
        evaluator="output",
        passed=not failed,
        score=share,
        detail=f"failed: {'; '.join(failed)}" if failed else f"{len(checks)} check(s) hold",
        metrics={"checks": len(checks), "failed": len(failed), "output_chars": len(output)},
    )


EVALUATOR = Evaluator(
    name="output",
    description="final-output checks: equals, contains, regex, JSON schema",
    expectation=OutputExpect,
    evaluate=evaluate,
)
