"""Reading an A2A reply to an `input-required` task as a decision.

A decision is a data part: `{"action": "approve" | "reject" | "edit", "args": {...},
"comment": "..."}` for an approval, `{"action": "done" | "retry" | "skip"}` for a tool call
whose outcome is unknown. Free text is safe by default: on an approval it rejects the call
with the text as guidance to the model (it never approves: a person's "ok, but use the
other file" must not run the risky call); on an unknown outcome it is no decision at all
and gets an error asking for the data part. An unreadable data part is an error too.
"""

from __future__ import annotations

from typing import Any

from a2a.helpers.proto_helpers import get_data_parts, get_text_parts
from a2a.types.a2a_pb2 import Message
from a2a.utils.errors import InvalidParamsError
from pydantic import ValidationError

from graphs import approval as approvals
from graphs.approval import ApprovalDecision

HOW_TO_ANSWER = (
    "approve or edit with a data part {\"action\": \"approve\" | \"edit\", \"args\": {...}, "
    "\"comment\": \"...\"}; a text reply rejects the call, with the text as guidance"
)
HOW_TO_SETTLE = (
    "say what happened with a data part {\"action\": \"done\" | \"retry\" | \"skip\", "
    "\"comment\": \"...\"} (done: it happened; retry: run it again; skip: go on without it)"
)
UNKNOWN_OUTCOME = "unknown_outcome"


def how_to_answer(request: dict[str, Any] | None) -> str:
    kind = (request or {}).get("kind")
    return HOW_TO_SETTLE if kind == UNKNOWN_OUTCOME else HOW_TO_ANSWER


def decision_from_message(
    message: Message, request: dict[str, Any] | None, *, decided_by: str
) -> ApprovalDecision:
    """The decision a reply carries for the pending `request` (an interrupt payload)."""
    for data in get_data_parts(message.parts):
        if isinstance(data, dict) and "action" in data:
            return _fits(request, _from_data(data, request, decided_by))
    text = "\n".join(get_text_parts(message.parts)).strip()
    if not text:
        raise InvalidParamsError(message=f"the reply is empty; {how_to_answer(request)}")
    if (request or {}).get("kind") == UNKNOWN_OUTCOME:
        raise InvalidParamsError(
            message=f"a text reply is no answer to an unknown outcome; {HOW_TO_SETTLE}"
        )
    return ApprovalDecision(action="reject", comment=text, decided_by=decided_by)


def whole_numbers(value: Any) -> Any:
    """Data parts carry every number as a double; give whole ones back their int type."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def _from_data(
    data: dict[str, Any], request: dict[str, Any] | None, decided_by: str
) -> ApprovalDecision:
    fields = {k: data[k] for k in ("action", "args", "comment") if data.get(k) is not None}
    if "args" in fields:
        fields["args"] = whole_numbers(fields["args"])
    try:
        return ApprovalDecision(**fields, decided_by=decided_by)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidParamsError(
            message=f"unreadable decision ({problems}); {how_to_answer(request)}"
        ) from None


def _fits(request: dict[str, Any] | None, decision: ApprovalDecision) -> ApprovalDecision:
    # graphs/approval.py gains check_decision_fits with the unknown-outcome decisions.
    check = getattr(approvals, "check_decision_fits", None)
    if check is not None and request is not None:
        try:
            check(request, decision)
        except ValueError as exc:
            raise InvalidParamsError(message=f"{exc}; {how_to_answer(request)}") from None
    return decision
