"""Label scoring and FER+ agreement on synthetic probabilities (pure, no model, no DB)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean.features import score_features
from curate.clean.labels import LabelsConfig, ferplus_agreement, score_labels
from curate.core.errors import InputError


def _probs(labels: np.ndarray, flip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Confident, correct probabilities for the true class (the given label unless flipped)."""
    true = labels.copy()
    true[flip] = (labels[flip] + 3) % 7
    p = rng.dirichlet(np.ones(7) * 0.3, size=len(labels)) * 0.2
    p[np.arange(len(labels)), true] += 0.8
    return p / p.sum(1, keepdims=True)


def test_flipped_labels_are_flagged_and_suggested_back():
    rng = np.random.default_rng(1)
    given = np.arange(700) % 7
    flip = rng.choice(700, 50, replace=False)
    s = score_labels(given, _probs(given, flip, rng))
    assert s["is_issue"][flip].mean() > 0.95
    assert s["is_issue"].sum() - s["is_issue"][flip].sum() <= 5
    assert (s["suggested"][flip] == (given[flip] + 3) % 7).all()
    assert s["quality"][flip].max() < np.delete(s["quality"], flip).min()
    assert (s["suggested_prob"] > 0.5).all()


def _clusters(rng: np.random.Generator, n: int = 700, dim: int = 64) -> np.ndarray:
    """Non-negative features (as pooled ReLU activations) around 7 class centres."""
    centres = rng.gamma(2.0, 1.0, size=(7, dim))
    return np.abs(centres[np.arange(n) % 7] + rng.normal(0, 0.5, size=(n, dim)))


def test_planted_outliers_and_near_duplicates_are_found_by_the_datalab_rules():
    rng = np.random.default_rng(2)
    x = _clusters(rng)
    odd = rng.choice(700, 12, replace=False)
    x[odd] = rng.gamma(2.0, 1.0, size=(len(odd), x.shape[1])) * rng.random((len(odd), 64)) ** 4
    for src, dst in ((5, 100), (100, 101), (101, 200), (300, 301)):  # a chain of 4, and a pair
        x[dst] = x[src] * 1.001
    out = score_features(x)
    assert out["is_outlier"][odd].all() and out["is_outlier"].sum() <= len(odd) + 21  # + 3% tail
    assert set(np.argsort(out["outlier_score"])[:len(odd)]) == set(odd)  # the lowest scores
    planted = {5, 100, 101, 200, 300, 301}
    assert set(np.flatnonzero(out["is_near_duplicate"])) == planted
    sets = out["set_id"]
    assert sets[5] == sets[100] == sets[101] == sets[200] != sets[300] == sets[301] >= 0
    assert sorted(set(sets[sets >= 0])) == [0, 1] and (sets[~out["is_near_duplicate"]] == -1).all()
    assert out["near_duplicate_score"][list(planted)].max() < 0.05
    assert np.median(out["near_duplicate_score"]) > 0.5
    none = score_features(x, near_duplicate_threshold=0.0, outlier_threshold=0.0)
    assert not none["is_near_duplicate"].any() and not none["is_outlier"].any()


def test_feature_scores_of_tiny_inputs():
    one = score_features(np.ones((1, 8)))
    assert one["set_id"].tolist() == [-1] and not one["is_outlier"].any()
    three = score_features(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert three["is_near_duplicate"].tolist() == [True, True, False]


def test_ferplus_agreement():
    given = np.array([0, 1, 2, 3])
    suggested = np.array([0, 2, 2, 4])
    out = ferplus_agreement(given, suggested, ["angry", "fear", None, "contempt"],
                            np.array([False, True, False, True]))
    assert out["with_majority"] == 2 and out["given_agrees"] == 0.5
    assert out["suggested_agrees"] == 1.0 and out["flagged_suggested_agrees"] == 1.0
    assert ferplus_agreement(given, suggested, [None] * 4, np.zeros(4, bool)) == {}


def test_config_profiles_and_validation():
    fast, full = LabelsConfig(fast=True).oof_config(), LabelsConfig().oof_config()
    assert fast.folds < full.folds and fast.epochs < full.epochs
    assert LabelsConfig(fast=True, folds=4).oof_config().folds == 4
    with pytest.raises(InputError, match="unknown backbone"):
        LabelsConfig(backbone="resnet18x")
    with pytest.raises(InputError, match="filter_by"):
        LabelsConfig(filter_by="magic")
    with pytest.raises(InputError, match="outlier_threshold"):
        LabelsConfig(outlier_threshold=2.0)
    with pytest.raises(InputError, match="near_duplicate_threshold"):
        LabelsConfig(near_duplicate_threshold=-0.1)
    with pytest.raises(InputError, match="at least 2 folds"):
        LabelsConfig(folds=1)
