"""Datalab's outlier and near-duplicate rules on feature vectors (one kNN graph for both,
from `curate.clean.knn`: Datalab's exact graph, a faiss index above `knn.EXACT_MAX` rows).

cleanlab's `Datalab` needs Hugging Face `datasets`, which nothing else here uses, so its two
feature-based rules are applied directly on the kNN graph that Datalab itself builds
(`cleanlab.internal.neighbor.knn_graph.create_knn_graph_and_index`, k = 10, cosine distance for
high-dimensional features), following `cleanlab/datalab/internal/issue_manager/outlier.py` and
`duplicate.py` (cleanlab 2.9):

- outlier: mean distance to the k neighbours; flagged above Q3 + (1/threshold - 1) x IQR
  (threshold 0.37037); score = cleanlab's `transform_distances_to_scores` (1 = typical).
- near duplicate: flagged when a neighbour is closer than threshold (0.13) x the median
  nearest-neighbour distance; score = 1 - exp(-d / median) of the nearest distance (0 = a copy).
  Pairs are joined into sets (`duplicates.connected_groups`): `set_id` -1 = in no set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.clean import knn
from curate.clean.duplicates import connected_groups
from curate.core.errors import InputError

K = 10
OUTLIER_THRESHOLD = 0.37037  # OutlierIssueManager.DEFAULT_THRESHOLDS["features"]
NEAR_DUPLICATE_THRESHOLD = 0.13  # NearDuplicateIssueManager's default
EPSILON = 1e-6  # cleanlab.internal.constants.EPSILON


@dataclass(frozen=True)
class FeatureScores:
    """Per row: outlier score (1 = typical) and flag, near-duplicate score (0 = a copy), flag
    and set id (-1 = in no set)."""

    outlier_score: np.ndarray
    is_outlier: np.ndarray
    near_duplicate_score: np.ndarray
    is_near_duplicate: np.ndarray
    set_id: np.ndarray

    def take(self, idx: np.ndarray) -> FeatureScores:
        """The rows `idx`."""
        return FeatureScores(self.outlier_score[idx], self.is_outlier[idx],
                             self.near_duplicate_score[idx], self.is_near_duplicate[idx],
                             self.set_id[idx])


def check_thresholds(outlier_threshold: float, near_duplicate_threshold: float) -> None:
    """InputError naming the option unless both thresholds are in range."""
    if not 0.0 <= outlier_threshold <= 1.0:
        raise InputError(f"--outlier-threshold {outlier_threshold}: use a value in [0, 1]")
    if near_duplicate_threshold < 0.0:
        raise InputError(f"--near-duplicate-threshold {near_duplicate_threshold}: use a value "
                         ">= 0")


def _outliers(dist: np.ndarray, metric: str, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    from cleanlab.internal.outlier import correct_precision_errors, transform_distances_to_scores

    avg = dist.mean(1)
    q1, q3 = np.percentile(avg, [25, 75])
    iqr_scale = 1.0 / threshold - 1.0 if threshold > 0 else np.inf  # 0: none
    is_outlier = avg > q3 + iqr_scale * (q3 - q1)
    scale = float(max(np.median(avg), 100 * np.finfo(np.float64).eps))
    score = correct_precision_errors(
        transform_distances_to_scores(avg, t=1, scaling_factor=scale), avg, metric)
    return score, is_outlier


def score_features(features: np.ndarray, *, k: int = K,
                   outlier_threshold: float = OUTLIER_THRESHOLD,
                   near_duplicate_threshold: float = NEAR_DUPLICATE_THRESHOLD) -> FeatureScores:
    """Outlier and near-duplicate scores, flags and sets of each row of `features`."""
    check_thresholds(outlier_threshold, near_duplicate_threshold)
    x = np.asarray(features, dtype=np.float32)
    n = len(x)
    if n < 2:
        ones, no = np.ones(n), np.zeros(n, bool)
        return FeatureScores(ones, no, ones, no, np.full(n, -1, np.int64))
    dist, neighbours, metric = knn.neighbours(x, min(k, n - 1))
    outlier_score, is_outlier = _outliers(dist, metric, outlier_threshold)
    nearest = dist[:, 0]
    median_nn = max(float(np.median(nearest)), EPSILON)
    close = (dist < near_duplicate_threshold * median_nn).ravel()
    rows = np.repeat(np.arange(n), dist.shape[1])[close]
    set_id = connected_groups(n, rows, neighbours.ravel()[close])
    return FeatureScores(outlier_score, is_outlier, 1.0 - np.exp(-nearest / median_nn),
                         set_id >= 0, set_id)
