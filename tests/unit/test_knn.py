"""clean's nearest neighbours: the exact graph below the threshold, the faiss index above."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean import knn


def _clusters(n: int = 3000, dim: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(60, dim))
    return (centres[rng.integers(0, 60, n)] + 0.4 * rng.normal(size=(n, dim))).astype(np.float32)


def test_index_finds_the_exact_neighbours():
    x = _clusters()
    d_exact, i_exact, metric = knn.neighbours(x, 10, method="exact")
    d_index, i_index, _ = knn.neighbours(x, 10, method="hnsw")
    assert metric == "cosine"
    assert knn.recall(i_index, i_exact) >= 0.99
    assert np.all(np.diff(d_index, axis=1) >= 0)
    assert np.allclose(d_index[:, 0], d_exact[:, 0], atol=1e-4)


def test_neither_search_returns_the_row_itself_even_among_copies():
    x = _clusters(400)
    x[1] = x[0]
    x[2] = x[0]  # three identical rows
    for method in ("exact", "hnsw"):
        dist, idx, _ = knn.neighbours(x, 5, method=method)
        assert not (idx == np.arange(len(x))[:, None]).any(), method
        assert set(idx[0, :2]) == {1, 2} and dist[0, 1] < 1e-5, method


def test_auto_switches_above_the_threshold(monkeypatch):
    x = _clusters(500)
    calls = []
    monkeypatch.setattr(knn, "EXACT_MAX", 100)
    real = knn.hnsw
    monkeypatch.setattr(knn, "hnsw", lambda *a, **k: calls.append(1) or real(*a, **k))
    knn.neighbours(x, 5)
    assert calls
    with pytest.raises(ValueError, match="kNN method"):
        knn.neighbours(x, 5, method="annoy")
