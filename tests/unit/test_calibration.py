"""The label audit's calibration on people's answers (curate.clean.calibration), on planted
worlds: labels whose errors the crowd-free estimate cannot see, annotators of known skill."""

from __future__ import annotations

import numpy as np

from curate.clean import calibration, signals
from curate.clean.calibration import AnswerSet

K = 7


def _world(n: int = 4000, seed: int = 0):  # noqa: ANN202
    """Faces whose true class the people see; labels wrong on 30% of them, mostly by one
    confusion (true 2 labelled 6) that the model, trained on the labels, half believes."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, n)
    given = truth.copy()
    flip = (truth == 2) & (rng.random(n) < 0.8) | (rng.random(n) < 0.15)
    given[flip] = np.where(truth[flip] == 2, 6, rng.integers(0, K, int(flip.sum())))
    logits = rng.normal(0, 1.0, (n, K))
    logits[np.arange(n), given] += 1.6
    logits[np.arange(n), truth] += 1.2
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return truth, given, probs, rng


def _audit(given: np.ndarray, probs: np.ndarray, answers: AnswerSet | None) -> np.ndarray:
    return signals.combine(given, probs, None, np.zeros(len(given), int), answers=answers).p_wrong


def _single_answers(truth, rows, skill, rng):  # noqa: ANN001, ANN202
    right = rng.random(len(rows)) < skill
    return np.where(right, truth[rows], rng.integers(0, K, len(rows)))


def test_four_hundred_single_answers_find_the_hidden_errors_at_the_target_precision():
    truth, given, probs, rng = _world()
    wrong = given != truth
    rows = rng.choice(len(truth), 400, replace=False)
    counts = np.zeros((len(truth), K))
    counts[rows, _single_answers(truth, rows, 0.75, rng)] = 1
    free = _audit(given, probs, None)
    cal = _audit(given, probs, AnswerSet.from_counts(counts))
    others = np.setdiff1d(np.arange(len(truth)), rows)  # judged where nobody answered

    def found(p_wrong: np.ndarray) -> tuple[float, float]:
        flag = signals.flag_to_precision(p_wrong, given, K)[others]
        hit = flag & wrong[others]
        return hit.sum() / max(flag.sum(), 1), hit.sum() / wrong[others].sum()

    precision, recall = found(cal)
    free_precision, free_recall = found(free)
    print(f"calibrated: precision {precision:.2f} recall {recall:.2f}; crowd-free: "
          f"{free_precision:.2f} / {free_recall:.2f}")
    assert precision >= 0.8 and recall >= 0.35, (precision, recall)
    assert recall > free_recall + 0.15  # the crowd-free audit misses the hidden confusion


def test_a_spammer_weighs_less_than_a_careful_annotator():
    from cleanlab.multiannotator import get_label_quality_multiannotator

    truth, given, probs, rng = _world(seed=1)
    rows = rng.choice(len(truth), 900, replace=False)
    good, spam = rows[:450], rows[450:]
    faces = [[("good", int(a))] for a in _single_answers(truth, good, 0.9, rng)]
    faces += [[("spam", int(a))] for a in _single_answers(truth, spam, 0.0, rng)]
    shared = rng.choice(len(truth), 300, replace=False)  # faces both answered: skill shows
    matrix = np.full((len(truth), 2), np.nan)
    matrix[good, 0] = [f[0][1] for f in faces[:450]]
    matrix[spam, 1] = [f[0][1] for f in faces[450:]]
    matrix[shared, 0] = _single_answers(truth, shared, 0.9, rng)
    matrix[shared, 1] = _single_answers(truth, shared, 0.0, rng)
    has = ~np.isnan(matrix).all(1)
    stats = get_label_quality_multiannotator(matrix[has], probs[has], verbose=False,
                                             return_annotator_stats=True)["annotator_stats"]
    quality = {("good", "spam")[int(k)]: float(v)
               for k, v in stats["annotator_quality"].items()}
    assert quality["good"] > quality["spam"] + 0.3
    per_face = [[] for _ in range(len(truth))]
    for j, who in enumerate(("good", "spam")):
        for r in np.flatnonzero(~np.isnan(matrix[:, j])):
            per_face[r].append((who, int(matrix[r, j])))
    counts = calibration.annotator_weighted(per_face, {}, K)
    weighted = calibration.annotator_weighted(per_face, quality, K)
    plain, skilled = AnswerSet.from_counts(counts), AnswerSet.from_counts(counts, weighted)
    on_shared = np.isin(skilled.row, shared)  # the two disagree there: the careful one wins
    won = skilled.label[on_shared] == truth[skilled.row[on_shared]]
    assert won.mean() > 0.8
    only_spam = np.setdiff1d(spam, shared)  # a face only the spammer answered weighs less
    weight_of = dict(zip(skilled.row.tolist(), skilled.weight.tolist(), strict=False))
    plain_of = dict(zip(plain.row.tolist(), plain.weight.tolist(), strict=False))
    assert max(weight_of[r] for r in only_spam) < min(plain_of[r] for r in only_spam)


def test_each_answered_face_is_scored_without_its_answers_and_few_answers_change_nothing():
    truth, given, probs, rng = _world(n=1500, seed=2)
    rows = rng.choice(len(truth), 300, replace=False)
    counts = np.zeros((len(truth), K))
    counts[rows, truth[rows]] = 1
    base = _audit(given, probs, AnswerSet.from_counts(counts))
    moved = counts.copy()
    r = rows[0]
    moved[r] = 0
    moved[r, (truth[r] + 3) % K] = 1
    assert np.isclose(_audit(given, probs, AnswerSet.from_counts(moved))[r], base[r])
    few = np.zeros_like(counts)
    few[rows[: calibration.MIN_ANSWERS - 1], 0] = 1
    few[rows[: calibration.MIN_ANSWERS - 1], 1] = 1
    assert np.allclose(_audit(given, probs, AnswerSet.from_counts(few)),
                       _audit(given, probs, None))


def test_the_consensus_of_counts_is_their_plurality_and_a_tie_shares_the_face():
    a = AnswerSet.from_counts(np.array([[0, 3, 7], [0, 0, 0], [2, 2, 1], [0, 1, 0]]))
    assert a.row.tolist() == [0, 2, 2, 3] and a.label.tolist() == [2, 0, 1, 1]
    assert a.weight.tolist() == [1.0, 0.5, 0.5, 1.0]
