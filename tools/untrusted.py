"""Tool output is data, not instructions: it reaches the model inside a marked envelope.

    <tool_output tool="srv.echo" trust="untrusted">
    …what the tool returned…
    </tool_output>

The worker prompt tells the model that text inside the envelope is data. The envelope is a
hint to the model, not the defence: permissions never depend on what a tool returned (the
policy is resolved from the agent spec before the run and checked again on every call).
A tool cannot close the envelope early: "<tool_output" and "</tool_output" inside its
output are escaped.
"""

from __future__ import annotations

import re
from html import escape

OPEN_TAG = "<tool_output"
CLOSE_TAG = "</tool_output>"
_TAG_INSIDE = re.compile(r"<(/?)(tool_output)", re.IGNORECASE)
_ENVELOPE = re.compile(
    r"\A<tool_output tool=\"[^\"]*\" trust=\"untrusted\">\n(?P<body>.*)\n</tool_output>\Z",
    re.DOTALL,
)


def wrap(tool: str, content: str) -> str:
    """`content` from `tool` inside the untrusted-data envelope."""
    body = _TAG_INSIDE.sub(r"&lt;\1\2", content)
    return f'{OPEN_TAG} tool="{escape(tool, quote=True)}" trust="untrusted">\n{body}\n{CLOSE_TAG}'


def unwrap(text: str) -> str:
    """The tool's content from an envelope made by `wrap` (escapes left in); other text as is.

    For display and heuristics only; never use it to decide what a tool may do.
    """
    match = _ENVELOPE.match(text)
    return match.group("body") if match else text
