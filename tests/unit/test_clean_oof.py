"""Out-of-fold probabilities on generated data (no DB): folds, fallback, planted label flips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from train_fixtures import make_set

from curate.clean.label_scores import score_labels
from curate.clean.oof import OofConfig, effective_folds, fold_indices, oof_probs
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES


def test_folds_are_stratified_and_keep_groups_together():
    labels = np.repeat(np.arange(7), 12)
    groups = np.array([f"g{i // 3}" for i in range(len(labels))])
    held = fold_indices(labels, groups, 3, seed=0)
    assert sorted(np.concatenate(held).tolist()) == list(range(len(labels)))
    for h in held:
        others = set(groups[np.setdiff1d(np.arange(len(labels)), h)])
        assert not set(groups[h]) & others
    plain = fold_indices(labels, None, 4, seed=0)
    assert all(np.bincount(labels[h], minlength=7).min() == 3 for h in plain)


def test_small_class_falls_back_to_fewer_folds_or_fails_clearly(caplog):
    labels = np.array([0] * 10 + [1] * 3 + [2] * 10)
    assert effective_folds(labels, 5, CLASSES) == 3
    assert "only 3 samples" in caplog.text
    with pytest.raises(InputError, match="class 'disgust' has 1 sample"):
        effective_folds(np.array([0] * 10 + [1]), 5, CLASSES)


def test_planted_label_flips_get_low_quality():
    torch.set_num_threads(1)
    data = make_set(210, side=32)
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(data), 21, replace=False)
    data.labels[flipped] = (data.labels[flipped] + rng.integers(1, 7, 21)) % 7
    cfg = OofConfig(folds=3, backbone="test_efficientnet_gn", img_size=32, epochs=3,
                    batch_size=16, lr=3e-3, shift=1)
    k_fold = oof_probs(data, cfg)
    probs, models = k_fold.probs, k_fold.models
    assert len(models) == 3 and probs.shape == (210, 7)
    assert k_fold.heldout_features.shape == (210, models[0].num_features)
    assert sorted(set(k_fold.fold.tolist())) == [0, 1, 2]
    s = score_labels(data.labels, probs)
    assert s.is_issue[flipped].mean() >= 0.7          # recovery rate
    clean = np.delete(np.arange(210), flipped)
    assert s.is_issue[clean].mean() <= 0.05
    assert s.quality[flipped].mean() < s.quality[clean].mean() - 0.3
