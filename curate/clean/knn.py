"""Nearest neighbours in cosine distance, the one way `clean` finds them (the feature rules'
graph, the kNN label signal): exact up to `EXACT_MAX` rows, a faiss HNSW index above, where
an exact search grows with n^2 (1M faces x 512 dims: ~5e14 multiply-adds).

Arrays in, arrays out: `neighbours(x, k)` gives each row's k nearest other rows (itself left
out), distances ascending. The exact search is cleanlab's own (`create_knn_graph_and_index`,
what Datalab builds), so results below the threshold are exactly what they were; the index is
measured against it by `bench/bench_knn.py` (recall of the exact neighbours).
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

log = logging.getLogger(__name__)

# rows: FER-2013 (35.9k) stays exact, as it always was. Above, the exact graph's n^2 costs more
# than the index's build + search (bench/bench_knn.py, 512 dims, 2 cores: 37 s vs 17 s at 35.7k,
# 684 s vs 92 s at 143k, the index's recall 0.996 / 0.999 of the exact neighbours)
EXACT_MAX = 50_000
HNSW_M = 32  # graph degree
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128  # recall vs time at search (bench/bench_knn.py)
METHODS = ("auto", "exact", "hnsw")


def _normalised(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def exact(x: np.ndarray, k: int, metric: str | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """cleanlab's kNN graph and its metric (cosine for high-dimensional features, euclidean for
    3 dimensions or fewer, as Datalab chooses)."""
    from cleanlab.internal.neighbor.knn_graph import create_knn_graph_and_index

    n = len(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph, knn = create_knn_graph_and_index(np.asarray(x, dtype=np.float32), n_neighbors=k,
                                                metric=metric)
    metric = knn.metric if isinstance(knn.metric, str) else knn.metric.__name__
    return (graph.data.reshape(n, -1).astype(np.float64), graph.indices.reshape(n, -1), metric)


def hnsw(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """faiss HNSW on inner products of unit vectors (= cosine); self matches removed."""
    import faiss

    v = _normalised(x)
    index = faiss.IndexHNSWFlat(v.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(v)
    index.hnsw.efSearch = max(HNSW_EF_SEARCH, k + 1)
    sim, idx = index.search(v, k + 1)
    rows = np.arange(len(v))[:, None]
    keep = idx != rows  # drop the row itself (or, for copies, the last of k + 1)
    keep[keep.sum(1) > k, -1] = False
    idx = idx[keep].reshape(len(v), k)
    dist = np.clip(1.0 - sim[keep].reshape(len(v), k), 0.0, 2.0).astype(np.float64)
    order = np.argsort(dist, axis=1, kind="stable")
    return np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)


def neighbours(x: np.ndarray, k: int, method: str = "auto", metric: str | None = None
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """(distances (n, k) ascending, indices (n, k), metric) of each row's k nearest other
    rows. `metric` None: Datalab's choice (cosine above 3 dimensions); the index is cosine."""
    if method not in METHODS:
        raise ValueError(f"kNN method {method!r}: use one of {', '.join(METHODS)}")
    use = method if method != "auto" else ("exact" if len(x) <= EXACT_MAX else "hnsw")
    if use == "hnsw":
        log.info("kNN: faiss HNSW index over %d rows (exact search above %d rows costs n^2)",
                 len(x), EXACT_MAX)
        return (*hnsw(x, k), "cosine")
    return exact(x, k, metric)


def recall(approx: np.ndarray, truth: np.ndarray) -> float:
    """Share of the exact neighbours (rows of `truth`) that the approximate search found."""
    hits = sum(len(np.intersect1d(a, t)) for a, t in zip(approx, truth, strict=True))
    return hits / truth.size
