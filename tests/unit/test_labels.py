"""Label scoring and FER+ agreement on synthetic probabilities (pure, no model, no DB)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean.labels import LabelsConfig, ferplus_agreement, score_labels, score_outliers
from curate.errors import InputError


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


def test_planted_outliers_are_flagged_by_the_datalab_rule():
    """Rows the model finds unlike every class (flat probabilities) score lowest and are flagged;
    confident rows of any class, flipped labels included, are not outliers."""
    rng = np.random.default_rng(2)
    given = np.arange(700) % 7
    flip = rng.choice(700, 30, replace=False)
    p = _probs(given, flip, rng)
    odd = np.setdiff1d(rng.choice(700, 60, replace=False), flip)[:20]
    p[odd] = 1 / 7 + rng.normal(0, 0.003, size=(len(odd), 7))
    o = score_outliers(given, p)
    assert o["is_outlier"][odd].all()
    assert o["is_outlier"].sum() <= len(odd) + 5
    assert o["outlier_score"][odd].max() < np.delete(o["outlier_score"], odd).min()
    assert not score_outliers(given, p, threshold=0.0)["is_outlier"].any()


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
    with pytest.raises(InputError, match="at least 2 folds"):
        LabelsConfig(folds=1)
