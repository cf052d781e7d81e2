"""Expected tool calls, as a scenario writes them, and how arguments are compared.

A call is a tool name (any arguments) or `{name, args, status}`. Argument modes follow
agentevals: `exact`; `ignore`; `subset` (the call's arguments are a subset of the
expected ones); `superset` (the call has at least the expected arguments). A per-tool
override may also be a list of argument names that must be equal.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from evals.tool_calls import ToolCall

ArgsMode = Literal["exact", "ignore", "subset", "superset"]
ArgsRule = ArgsMode | list[str]


class ExpectedCall(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    args: dict[str, Any] | None = None  # None: any arguments
    status: str | list[str] | None = None  # None: any status

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def describe(self) -> str:
        args = "" if self.args is None else f"({_short(self.args)})"
        status = f" [{self.status}]" if self.status else ""
        return f"{self.name}{args}{status}"

    def accepts_status(self, status: str) -> bool:
        if self.status is None:
            return True
        allowed = [self.status] if isinstance(self.status, str) else self.status
        return status in allowed


def _short(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in sorted(args.items()))


def args_match(actual: dict[str, Any] | None, expected: dict[str, Any], rule: ArgsRule) -> bool:
    if rule == "ignore":
        return True
    if actual is None:  # only the event is known: arguments cannot be compared
        return False
    if isinstance(rule, list):
        return all(actual.get(key) == expected.get(key) for key in rule)
    if rule == "exact":
        return actual == expected
    if rule == "subset":
        return all(key in expected and expected[key] == v for key, v in actual.items())
    return all(key in actual and actual[key] == v for key, v in expected.items())


def call_matches(
    call: ToolCall, expected: ExpectedCall, mode: ArgsMode, overrides: dict[str, ArgsRule]
) -> bool:
    if call.name != expected.name or not expected.accepts_status(call.status):
        return False
    if expected.args is None:
        return True
    return args_match(call.args, expected.args, overrides.get(call.name, mode))


def describe_call(call: ToolCall) -> str:
    args = "?" if call.args is None else _short(call.args)
    return f"{call.name}({args}) [{call.status}]"
