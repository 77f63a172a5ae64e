"""The label model's features as FiftyOne Brain runs, so the App can use them its own way:
sort the grid by similarity to a face (a confirmed error, say) and see the label clusters in the
Embeddings panel, coloured by given, suggested or crowd label. `embeddings=` is always given,
so no model is downloaded. `curate clean --checks labels` calls `register`; a re-run replaces
both runs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from curate.core import store

log = logging.getLogger(__name__)

SIMILARITY_KEY = "curate_similarity"  # grid: sort by similarity
EMBEDDINGS_KEY = "curate_embeddings"  # the Embeddings panel
# PCA: fast and needs no extra package (docs/results.md#code-defaults); UMAP needs umap-learn:
# `fob.compute_visualization(..., method="umap")` on the same features works too
MAP_METHOD = "pca"


def register(ds: Any, ids: list[str], features: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Replace the similarity index and the 2-D map of `ids` with these features. Returns the
    seconds each took."""
    import fiftyone.brain as fob

    store.fo()  # our FiftyOne defaults first
    view = store.subset(ds, ids)  # in the dataset's order: the features follow it
    row = {i: k for k, i in enumerate(ids)}
    emb = np.asarray(features, dtype=np.float32)[[row[i] for i in view.values("id")]]
    out = {}
    for key in (SIMILARITY_KEY, EMBEDDINGS_KEY):
        if key in ds.list_brain_runs():
            ds.delete_brain_run(key)
    t0 = time.perf_counter()
    fob.compute_similarity(view, embeddings=emb, brain_key=SIMILARITY_KEY, backend="sklearn",
                           metric="cosine", progress=False)
    out["similarity_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    fob.compute_visualization(view, embeddings=emb, brain_key=EMBEDDINGS_KEY, method=MAP_METHOD,
                              num_dims=2, seed=seed, progress=False)
    out["map_s"] = round(time.perf_counter() - t0, 1)
    log.info("brain runs %s, %s on %d samples (%.1f s, %.1f s)", SIMILARITY_KEY, EMBEDDINGS_KEY,
             len(ids), out["similarity_s"], out["map_s"])
    return out
