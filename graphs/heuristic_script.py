"""The scripted model's default script, used when no scripted response is left for a role.

planner:  one step that calls every read-only tool, plus a report step when a report tool
          is available; worker: call each allowed read-only tool once, then summarise what
          came back (or write the report from it); critic: accept; summarizer: condense.
Deterministic: the same messages and hints give the same answer.
"""

from __future__ import annotations

import json
import socket
import textwrap
import uuid
from typing import Any, NamedTuple

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from graphs.health_findings import Check, headline, host_checks, verdict
from tools.untrusted import unwrap

STEP_MARKER = "wakeful_step"  # HumanMessage.additional_kwargs key marking a step's start
REPORT_TOOL = "write_report"
_SNIPPET = 600
_TITLE_CHARS = 80


class ToolInfo(NamedTuple):
    name: str
    scope: str


def _call_id() -> str:
    return f"call_{uuid.uuid4().hex[:12]}"


def _structured(tools: list[ToolInfo], args: dict[str, Any]) -> AIMessage:
    name = next((t.name for t in tools if t.scope == "structured"), None)
    if name is None:
        return AIMessage(content=json.dumps(args))
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": _call_id()}])


def _step_messages(messages: list[BaseMessage], step_id: str | None) -> list[BaseMessage]:
    """The messages since the current step started."""
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, HumanMessage) and message.additional_kwargs.get(STEP_MARKER):
            if step_id is None or message.additional_kwargs[STEP_MARKER] == step_id:
                return messages[index + 1 :]
            break
    return messages


def _tool_outputs(messages: list[BaseMessage]) -> dict[str, str]:
    """The latest successful output of each tool, in first-call order."""
    outputs: dict[str, str] = {}
    for message in messages:
        if isinstance(message, ToolMessage) and message.status != "error" and message.name:
            outputs.pop(message.name, None)
            outputs[message.name] = unwrap(str(message.content))
    return outputs


def _plan(tools: list[ToolInfo], hints: dict[str, Any]) -> AIMessage:
    goal = str(hints.get("goal", "the goal"))
    readers = [t["name"] for t in hints.get("tools", []) if t["scope"] == "read"]
    writers = [t["name"] for t in hints.get("tools", [])]
    steps: list[dict[str, Any]] = []
    if readers:
        steps.append(
            {
                "id": "gather",
                "description": f"Gather data with {', '.join(readers)} and summarise it",
                "depends_on": [],
            }
        )
    else:
        steps.append({"id": "answer", "description": f"Work on: {goal}", "depends_on": []})
    if REPORT_TOOL in writers and "report" in goal.lower():
        steps.append(
            {
                "id": "report",
                "description": f"Write the report with {REPORT_TOOL}",
                "depends_on": [steps[0]["id"]],
            }
        )
    return _structured(tools, {"steps": steps})


def _markdown(output: str) -> list[str]:
    """A tool's output as Markdown: JSON objects and lists of objects become tables."""
    try:
        data = json.loads(output)
    except ValueError:
        return ["```", output.strip(), "```"]
    if isinstance(data, dict) and data:
        rows = ["| field | value |", "|---|---|"]
        rows += [f"| {key} | {value} |" for key, value in data.items()]
        return rows
    if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
        keys = list(dict.fromkeys(k for row in data for k in row))
        rows = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        rows += ["| " + " | ".join(str(r.get(k, "")) for k in keys) + " |" for r in data]
        return rows
    return ["```json", output.strip(), "```"]


def _health_lines(checks: list[Check]) -> list[str]:
    """Verdict first, then what was flagged, then what was checked and found fine."""
    lines = [f"**Verdict: {verdict(checks)}.**", ""]
    flagged = [c for c in checks if c.flagged]
    if flagged:
        lines += ["## Flagged", "", *(f"- **{c.subject}**: {c.finding}" for c in flagged), ""]
    fine = [c for c in checks if not c.flagged]
    if fine:
        lines += ["## Checked, fine", "", *(f"- {c.subject}: {c.finding}" for c in fine), ""]
    return lines


def _report_title(goal: str, checks: list[Check]) -> str:
    if checks:
        return f"Host health of {socket.gethostname()}: {headline(checks)}"
    return "Report: " + textwrap.shorten(goal or "report", _TITLE_CHARS, placeholder="…")


def _report_body(
    goal: str, outputs: dict[str, str], step_results: dict[str, str], checks: list[Check]
) -> str:
    lines = _health_lines(checks) if checks else []
    lines += [
        f"Goal: {goal}",
        "",
        f"Host: `{socket.gethostname()}`. Written by the scripted model (no LLM) from the "
        "tool output below.",
        "",
    ]
    level = "###" if checks else "##"
    if checks:
        lines += ["## Tool output", ""]
    for name, output in outputs.items():
        lines += [f"{level} {name}", "", *_markdown(output), ""]
    if not outputs:
        for step_id, result in step_results.items():
            lines += [f"## {step_id}", "", result, ""]
    return "\n".join(lines)


def _work(messages: list[BaseMessage], tools: list[ToolInfo], hints: dict[str, Any]) -> AIMessage:
    step = hints.get("step") or {}
    description = str(step.get("description", "")).lower()
    in_step = _step_messages(messages, step.get("id"))
    called_in_step = {
        call["name"] for m in in_step if isinstance(m, AIMessage) for call in m.tool_calls
    }
    called_ever = {m.name for m in messages if isinstance(m, ToolMessage)}
    names = {t.name for t in tools}
    # Scope from the node's hints when the bound tool does not carry it itself.
    hinted = {t["name"]: t["scope"] for t in hints.get("tools", [])}
    tools = [ToolInfo(t.name, hinted.get(t.name, t.scope)) for t in tools]

    if "report" in description and REPORT_TOOL in names:
        if REPORT_TOOL not in called_in_step:
            goal, outputs = str(hints.get("goal", "")), _tool_outputs(messages)
            checks = host_checks(outputs)
            body = _report_body(goal, outputs, hints.get("step_results", {}), checks)
            title = _report_title(goal, checks)
            return AIMessage(
                content="Writing the report from the data gathered so far.",
                tool_calls=[
                    {"name": REPORT_TOOL, "args": {"title": title, "body": body}, "id": _call_id()}
                ],
            )
        written = _tool_outputs(in_step).get(REPORT_TOOL, "")
        return AIMessage(content=f"Report written: {written}")

    for tool in tools:
        if tool.scope == "read" and tool.name not in called_ever:
            return AIMessage(
                content=f"Checking {tool.name}.",
                tool_calls=[{"name": tool.name, "args": {}, "id": _call_id()}],
            )

    outputs = _tool_outputs(messages)
    if not outputs:
        return AIMessage(content=f"No tool results to go on; noted the goal: {hints.get('goal')}")
    checks = host_checks(outputs)
    lines = [f"Verdict: {verdict(checks)}."] if checks else []
    lines += [f"Flagged {c.subject}: {c.finding}" for c in checks if c.flagged]
    lines.append("Summary of what came back:")
    for name, output in outputs.items():
        compact = " ".join(output.split())
        lines.append(f"- {name}: {compact[:_SNIPPET]}")
    return AIMessage(content="\n".join(lines))


def _summarise(messages: list[BaseMessage]) -> AIMessage:
    parts = []
    for message in messages:
        text = " ".join(str(message.content).split())
        if text:
            parts.append(f"{message.type}: {text[:200]}")
    return AIMessage(content="Summary of earlier work: " + " | ".join(parts)[:2000])


def heuristic_response(
    role: str, messages: list[BaseMessage], tools: list[ToolInfo], hints: dict[str, Any]
) -> AIMessage:
    if role == "planner":
        return _plan(tools, hints)
    if role == "worker":
        return _work(messages, tools, hints)
    if role == "critic":
        return _structured(tools, {"decision": "accept", "reason": "The step produced a result."})
    if role == "consolidator":
        return _structured(tools, {"facts": []})
    return _summarise(messages)
