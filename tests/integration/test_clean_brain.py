"""The label model's features as FiftyOne Brain runs (curate.clean.brain): similarity sorting
and the Embeddings panel's map, no model downloaded, replaced by a re-run."""

from __future__ import annotations

import numpy as np
from review_fixtures import audited_dataset

from curate.clean import brain


def test_features_become_similarity_and_map_runs(tmp_path, dataset_name):
    ds, _ = audited_dataset(tmp_path, dataset_name, n=30)
    ids = ds.values("id")
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(len(ids), 16)).astype(np.float32)
    feats[1] = feats[0] + 0.01  # a near twin of the first face
    brain.register(ds, ids, feats)
    assert {brain.SIMILARITY_KEY, brain.EMBEDDINGS_KEY} <= set(ds.list_brain_runs())
    nearest = ds.sort_by_similarity(ids[0], k=2, brain_key=brain.SIMILARITY_KEY).values("id")
    assert nearest == [ids[0], ids[1]]
    points = ds.load_brain_results(brain.EMBEDDINGS_KEY).points
    assert points.shape == (len(ids), 2)
    brain.register(ds, ids[:10], feats[:10])  # a re-run replaces both
    assert ds.load_brain_results(brain.EMBEDDINGS_KEY).points.shape == (10, 2)
