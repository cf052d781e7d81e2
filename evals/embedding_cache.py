"""Sentence embeddings cached on disk, for scoring datasets offline without re-encoding.

MiniLM on a small machine takes seconds per hundred texts; a dataset is scored many times.
The model loads only when a text is missing from the cache.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class CachedEmbedder:
    def __init__(self, path: Path | None, model_path: str | None = None) -> None:
        self.path, self.model_path = path, model_path
        self.vectors: dict[str, np.ndarray] = {}
        self.dirty = False
        if path is not None and path.exists():
            with np.load(path) as data:
                self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def warm(self, texts: Sequence[str]) -> None:
        """Encode every text not cached yet, in one batch."""
        missing = sorted({t for t in texts if self.key(t) not in self.vectors})
        if not missing:
            return
        from memory.embeddings import shared_embedder

        encoded = shared_embedder(self.model_path).embed(missing)
        for text, vector in zip(missing, encoded, strict=True):
            self.vectors[self.key(text)] = vector.astype(np.float32)
        self.dirty = True

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.warm(texts)
        return np.stack([self.vectors[self.key(t)] for t in texts])

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.vectors))
        np.savez_compressed(self.path, keys=keys, vectors=np.stack(list(self.vectors.values())))
        self.dirty = False
