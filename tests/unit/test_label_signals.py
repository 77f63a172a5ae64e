"""The label check's signals, their combination and the per-class flag rule, on synthetic
arrays with planted label errors (pure: no model, no database)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean import calibration, signals
from curate.clean.calibration import AnswerSet
from curate.core.errors import InputError

K = 7


def _world(n: int = 2100, flip_rate: float = 0.2, seed: int = 0):  # noqa: ANN202
    """True classes, given labels with planted flips (each class flips to its neighbour class),
    features clustered by the true class, and a model that is right 70% of the time with
    probabilities that follow the true class."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % K
    flipped = rng.random(n) < flip_rate
    given = np.where(flipped, (true + 1) % K, true)
    centres = rng.normal(0, 1, size=(K, 32))
    feats = centres[true] + rng.normal(0, 3.0, size=(n, 32))
    logits = rng.normal(0, 1.0, size=(n, K))
    logits[np.arange(n), true] += 2.2
    logits[np.arange(n), given] += 0.4  # a model trained on the noisy labels leans to them
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    groups = np.arange(n) % 3  # three folds
    return true, given, flipped, feats, probs, groups


def _precision_at(score: np.ndarray, wrong: np.ndarray, k: int) -> float:
    return float(wrong[np.argsort(-score, kind="stable")[:k]].mean())


def test_knn_label_probs_see_the_neighbours_labels_within_the_group_only():
    feats = np.array([[1.0, 0.0]] * 4 + [[0.0, 1.0]] * 4)
    labels = np.array([0, 0, 0, 1, 2, 2, 2, 2])
    groups = np.zeros(8, int)
    p = signals.knn_label_probs(feats, labels, groups, 3, k=3, prior_weight=0.0)
    assert p.shape == (8, 3) and np.allclose(p.sum(1), 1.0)
    assert p[3].tolist() == [1.0, 0.0, 0.0]  # the odd one out: its neighbours say 0
    assert p[0, 0] == pytest.approx(2 / 3)  # itself left out: two 0s and the 1
    apart = signals.knn_label_probs(feats, labels, np.arange(8) % 2, 3, k=3, prior_weight=0.0)
    # group 1 = rows 1, 3, 5, 7: row 3 now sees row 1 (label 0) and rows 5, 7 (label 2)
    assert np.allclose(apart[3], [1 / 3, 0.0, 2 / 3]) and np.allclose(apart[1], [0, 1 / 3, 2 / 3])


def test_mix_weight_is_chosen_by_the_given_labels():
    true, given, _, feats, probs, groups = _world()
    knn = signals.knn_label_probs(feats, given, groups, K)
    assert 0.0 < signals.mix_weight(probs, knn, given) < 1.0
    useless = np.full_like(probs, 1.0 / K)
    assert signals.mix_weight(probs, useless, given) == 0.0


def test_combination_finds_planted_errors_better_than_the_model_alone():
    true, given, flipped, feats, probs, groups = _world()
    s = signals.combine(given, probs, feats, groups)
    assert s.posterior.shape == (len(given), K) and np.allclose(s.posterior.sum(1), 1.0)
    model_only = 1.0 - probs[np.arange(len(given)), given]
    k = int(flipped.sum())
    assert _precision_at(s.p_wrong, flipped, k) > _precision_at(model_only, flipped, k) + 0.03
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(flipped, s.p_wrong) > 0.9
    # the estimate is calibrated: the expected number of errors is near the planted one
    assert abs(s.p_wrong.sum() - k) < 0.25 * k
    # where the posterior prefers another class, that class is mostly the true one
    relabel = s.posterior.argmax(1) != given
    assert (s.posterior.argmax(1)[relabel] == true[relabel]).mean() > 0.8


def test_flags_reach_the_target_precision_per_class():
    true, given, flipped, feats, probs, groups = _world()
    s = signals.combine(given, probs, feats, groups)
    flag = signals.flag_to_precision(s.p_wrong, given, K, target=0.8)
    assert flag.any()
    assert flipped[flag].mean() >= 0.8  # measured precision on the planted truth
    assert flag[flipped].mean() >= 0.5  # recall
    est = signals.estimated_precision(s.p_wrong, flag, given, tuple("abcdefg"))
    for name in "abcdefg":
        if est[name]["flags"]:
            assert est[name]["estimated_precision"] >= 0.8
    assert est["all"]["flags"] == int(flag.sum())
    stricter = signals.flag_to_precision(s.p_wrong, given, K, target=0.95)
    assert stricter.sum() < flag.sum() and not (stricter & ~flag).any()
    with pytest.raises(InputError, match="--target-precision"):
        signals.flag_to_precision(s.p_wrong, given, K, target=0.0)


def test_posterior_uses_the_noise_of_the_joint():
    labels = np.array([0, 1])
    probs = np.array([[0.5, 0.5], [0.5, 0.5]])
    joint = np.array([[0.4, 0.3], [0.0, 0.3]])  # true 1 is often given 0, true 0 never given 1
    post = signals.posterior(labels, probs, joint)
    assert post[1].tolist() == [0.0, 1.0]  # given 1: it can only be a true 1
    assert post[0, 1] == pytest.approx(0.5 * 0.5 / (1.0 * 0.5 + 0.5 * 0.5))


def _shifted_world(n: int = 2100, seed: int = 1):  # noqa: ANN202
    """A crowd that disagrees with the labels where the model cannot see it: 60% of the faces
    labelled 2 are a 6 to the crowd, and the model, trained on the labels, still says 2."""
    rng = np.random.default_rng(seed)
    given = np.arange(n) % K
    crowd = given.copy()
    shifted = (given == 2) & (rng.random(n) < 0.6)
    crowd[shifted] = 6
    logits = rng.normal(0, 1.0, size=(n, K))
    logits[np.arange(n), given] += 2.0
    logits[shifted, 6] += 0.8  # a faint trace of what the crowd sees
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return given, crowd, shifted, probs


def _answers(rows: np.ndarray, classes: np.ndarray) -> AnswerSet:
    counts = np.zeros((int(rows.max()) + 1 if len(rows) else 0, K))
    counts[rows, classes] = 1
    return AnswerSet.from_counts(counts)


def test_crowd_calibration_learns_what_the_labels_hide_and_never_scores_a_row_by_its_votes():
    from sklearn.metrics import roc_auc_score

    given, crowd, shifted, probs = _shifted_world()
    voted = np.zeros(len(given), bool)
    voted[::3] = True  # answers for a third of the rows
    rows = np.flatnonzero(voted)
    groups = np.zeros(len(given), int)
    free = signals.combine(given, probs, None, groups)
    cal = signals.combine(given, probs, None, groups, answers=_answers(rows, crowd[rows]))
    assert free.crowd_rows == 0 and cal.crowd_rows == int(voted.sum())
    unvoted = ~voted  # judged on the rows nobody answered
    assert roc_auc_score(shifted[unvoted], cal.p_wrong[unvoted]) > 0.9
    assert roc_auc_score(shifted[unvoted], free.p_wrong[unvoted]) < 0.75
    assert (cal.posterior[unvoted & shifted].argmax(1) == 6).mean() > 0.8
    # cross-fitting: an answered row's score does not move when its own answer changes
    row = int(np.flatnonzero(voted & ~shifted)[0])
    other = crowd[rows].copy()
    other[rows == row] = (other[rows == row] + 1) % K
    moved = signals.combine(given, probs, None, groups, answers=_answers(rows, other))
    assert np.allclose(moved.posterior[row], cal.posterior[row])
    few = rows[: calibration.MIN_ANSWERS - 1]
    assert signals.combine(given, probs, None, groups,
                           answers=_answers(few, crowd[few])).crowd_rows == 0


def test_a_crowd_of_one_class_leaves_the_crowd_free_estimate():
    given, _, _, probs = _shifted_world(n=700)
    rows = np.arange(300)
    groups = np.zeros(700, int)
    one = signals.combine(given, probs, None, groups, answers=_answers(rows, np.full(300, 4)))
    assert one.crowd_rows == 0  # nothing to learn a correction from


def test_cross_fit_holds_out_every_row_once_and_never_fits_on_it():
    rows = np.array([3, 8, 9, 12, 20, 21, 40])
    parts = list(signals.cross_fit(rows, folds=3, seed=1))
    assert len(parts) == 3
    held = np.concatenate([h for _, h in parts])
    assert sorted(held.tolist()) == rows.tolist()
    for fit, h in parts:
        assert not set(fit) & set(h) and set(fit) | set(h) == set(rows)
    assert len(list(signals.cross_fit(rows[:2], folds=5, seed=0))) == 2  # empty parts skipped
