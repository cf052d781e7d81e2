"""Reading an A2A reply to an `input-required` task as an approval decision.

A reply is either a data part holding the decision (`{"action": "approve" | "reject" |
"edit", "args": {...}, "comment": "..."}`) or text: `approve` (also `yes`, `ok`),
`reject` or `reject: reason` (also `deny`, `no`), or `edit {"arg": "value"}`. Anything else
is an InvalidParamsError telling the client how to answer — never a guess: an unreadable
answer must not run a risky tool.
"""

from __future__ import annotations

import json
import re
from typing import Any

from a2a.helpers.proto_helpers import get_data_parts, get_text_parts
from a2a.types.a2a_pb2 import Message
from a2a.utils.errors import InvalidParamsError
from pydantic import ValidationError

from graphs.approval import ApprovalDecision

HOW_TO_ANSWER = (
    "answer an approval with the text `approve`, `reject: <reason>` or "
    '`edit {"arg": "value"}`, or with a data part {"action": "approve" | "reject" | "edit", '
    '"args": {...}, "comment": "..."}'
)

_APPROVE = {"approve", "approved", "yes", "y", "ok", "allow"}
_REJECT = {"reject", "rejected", "deny", "denied", "no", "n"}
_TEXT = re.compile(r"^\s*(?P<word>[A-Za-z]+)\s*(?::\s*|\s+)?(?P<rest>.*)$", re.DOTALL)


def decision_from_message(message: Message, *, decided_by: str) -> ApprovalDecision:
    for data in get_data_parts(message.parts):
        if isinstance(data, dict) and "action" in data:
            return _from_data(data, decided_by)
    text = "\n".join(get_text_parts(message.parts)).strip()
    if text:
        return _from_text(text, decided_by)
    raise InvalidParamsError(message=f"the reply is empty; {HOW_TO_ANSWER}")


def whole_numbers(value: Any) -> Any:
    """Data parts carry every number as a double; give whole ones back their int type."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole_numbers(v) for v in value]
    return value


def _from_data(data: dict[str, Any], decided_by: str) -> ApprovalDecision:
    fields = {k: data[k] for k in ("action", "args", "comment") if data.get(k) is not None}
    if "args" in fields:
        fields["args"] = whole_numbers(fields["args"])
    try:
        return ApprovalDecision(**fields, decided_by=decided_by)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidParamsError(
            message=f"unreadable decision ({problems}); {HOW_TO_ANSWER}"
        ) from None


def _from_text(text: str, decided_by: str) -> ApprovalDecision:
    match = _TEXT.match(text)
    word = match["word"].lower() if match else ""
    rest = match["rest"].strip() if match else ""
    if word in _APPROVE:
        return ApprovalDecision(action="approve", comment=rest or None, decided_by=decided_by)
    if word in _REJECT:
        return ApprovalDecision(action="reject", comment=rest or None, decided_by=decided_by)
    if word == "edit":
        try:
            args = json.loads(rest)
        except json.JSONDecodeError:
            args = None
        if not isinstance(args, dict):
            raise InvalidParamsError(
                message=f"`edit` needs the new arguments as a JSON object; {HOW_TO_ANSWER}"
            )
        return ApprovalDecision(action="edit", args=args, decided_by=decided_by)
    raise InvalidParamsError(message=f"cannot read {text[:80]!r} as a decision; {HOW_TO_ANSWER}")
