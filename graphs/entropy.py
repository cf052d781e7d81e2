"""Stuck-loop signals: structural (repeated calls, A-B-A-B, repeated errors) and semantic.

All functions are pure over the loop state; the semantic check embeds each thought once
(the embedder caches by text) and compares the last k pairwise.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import numpy as np

from graphs.spec import EntropyConfig
from graphs.state import LoopState

if TYPE_CHECKING:
    from memory.embeddings import Embedder

WINDOW = 24  # recent hashes kept in state


def remember(items: list[str], item: str) -> list[str]:
    return [*items, item][-WINDOW:]


def structural_signal(loop: LoopState, config: EntropyConfig) -> str | None:
    calls = loop["tool_hashes"]
    if calls:
        call, count = Counter(calls).most_common(1)[0]
        if count >= config.repeat_threshold:
            return f"repeated_call: {call.split('#')[0]} x{count}"
    span = 2 * config.alternation_repeats
    if len(calls) >= span:
        tail = calls[-span:]
        a, b = tail[-2], tail[-1]
        if a != b and all(h == (a if i % 2 == 0 else b) for i, h in enumerate(tail)):
            names = f"{a.split('#')[0]}/{b.split('#')[0]}"
            return f"alternation: {names} x{config.alternation_repeats}"
    if loop["errors"]:
        error, count = Counter(loop["errors"]).most_common(1)[0]
        if count >= config.error_repeats:
            return f"repeated_error: {error.split('#')[0]} x{count}"
    return None


def semantic_similarity(thoughts: list[str], embedder: Embedder) -> float:
    """The lowest pairwise cosine similarity among the thoughts (1.0 = all identical)."""
    vectors = embedder.embed(thoughts)
    sims = vectors @ vectors.T
    upper = sims[np.triu_indices(len(thoughts), k=1)]
    return float(upper.min())


def semantic_signal(
    loop: LoopState, config: EntropyConfig, embedder: Embedder | None
) -> str | None:
    if embedder is None or not config.semantic:
        return None
    thoughts = loop["thoughts"][-config.semantic_window :]
    if len(thoughts) < config.semantic_window:
        return None
    similarity = semantic_similarity(thoughts, embedder)
    if similarity >= config.semantic_threshold:
        return f"similar_thoughts: last {len(thoughts)} at cosine >= {similarity:.3f}"
    return None
