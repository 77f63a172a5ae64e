"""Datalab's outlier and near-duplicate rules on feature vectors (one kNN graph for both).

cleanlab's `Datalab` needs Hugging Face `datasets`, which nothing else here uses, so its two
feature-based rules are applied directly on the kNN graph that Datalab itself builds
(`cleanlab.internal.neighbor.knn_graph.create_knn_graph_and_index`, k = 10, cosine distance for
high-dimensional features), following `cleanlab/datalab/internal/issue_manager/outlier.py` and
`duplicate.py` (cleanlab 2.9):

- outlier: mean distance to the k neighbours; flagged above Q3 + (1/threshold - 1) x IQR
  (threshold 0.37037); score = cleanlab's `transform_distances_to_scores` (1 = typical).
- near duplicate: flagged when a neighbour is closer than threshold (0.13) x the median
  nearest-neighbour distance; score = 1 - exp(-d / median) of the nearest distance (0 = a copy).
  Pairs are joined into sets (connected components): `set_id` -1 = in no set.
"""

from __future__ import annotations

import warnings

import numpy as np

K = 10
OUTLIER_THRESHOLD = 0.37037  # OutlierIssueManager.DEFAULT_THRESHOLDS["features"]
NEAR_DUPLICATE_THRESHOLD = 0.13  # NearDuplicateIssueManager's default
EPSILON = 1e-6  # cleanlab.internal.constants.EPSILON


def score_features(features: np.ndarray, *, k: int = K,
                   outlier_threshold: float = OUTLIER_THRESHOLD,
                   near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD,
                   ) -> dict[str, np.ndarray]:
    """outlier_score / is_outlier and near_duplicate_score / is_near_duplicate / set_id per row."""
    from cleanlab.internal.neighbor.knn_graph import create_knn_graph_and_index
    from cleanlab.internal.outlier import correct_precision_errors, transform_distances_to_scores
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    if n < 2:
        ones, no = np.ones(n), np.zeros(n, bool)
        return {"outlier_score": ones, "is_outlier": no, "near_duplicate_score": ones,
                "is_near_duplicate": no, "set_id": np.full(n, -1, np.int64)}
    k = min(k, n - 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph, knn = create_knn_graph_and_index(x, n_neighbors=k)
    dist = graph.data.reshape(n, -1).astype(np.float64)
    neighbours = graph.indices.reshape(n, -1)
    metric = knn.metric if isinstance(knn.metric, str) else knn.metric.__name__

    avg = dist.mean(1)
    q1, q3 = np.percentile(avg, [25, 75])
    iqr_scale = 1.0 / outlier_threshold - 1.0 if outlier_threshold > 0 else np.inf  # 0: none
    is_outlier = avg > q3 + iqr_scale * (q3 - q1)
    scale = float(max(np.median(avg), 100 * np.finfo(np.float64).eps))
    outlier_score = correct_precision_errors(
        transform_distances_to_scores(avg, t=1, scaling_factor=scale), avg, metric)

    nearest = dist[:, 0]
    median_nn = max(float(np.median(nearest)), EPSILON)
    close = dist < near_duplicate_threshold * median_nn
    rows = np.repeat(np.arange(n), dist.shape[1])[close.ravel()]
    cols = neighbours.ravel()[close.ravel()]
    in_pair = np.zeros(n, bool)
    in_pair[rows] = in_pair[cols] = True
    pairs = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, comp = connected_components(pairs, directed=False)
    set_id = np.full(n, -1, np.int64)
    if in_pair.any():  # renumber the components that hold a pair as 0, 1, 2, ...
        _, set_id[in_pair] = np.unique(comp[in_pair], return_inverse=True)
    return {"outlier_score": outlier_score, "is_outlier": is_outlier,
            "near_duplicate_score": 1.0 - np.exp(-nearest / median_nn),
            "is_near_duplicate": in_pair, "set_id": set_id}
