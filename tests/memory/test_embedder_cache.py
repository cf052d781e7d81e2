"""The embedder embeds each distinct text once and copes with batches beyond its cache."""

from __future__ import annotations

import numpy as np

from memory.embeddings import Embedder, shared_embedder


def test_batch_larger_than_the_cache() -> None:
    small = Embedder(cache_size=4)
    texts = [f"host web-{i:02d} is healthy" for i in range(10)]
    vectors = small.embed(texts)
    assert vectors.shape == (10, small.dim)
    assert len(small._cache) == 4  # the newest four stay
    np.testing.assert_allclose(vectors[3], shared_embedder().embed_one(texts[3]), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), np.ones(10), atol=1e-4)
