"""The label audit's calibration on people's answers, on arrays (no model, no database).

What the crowd-free audit cannot know is how the people who will judge a dataset read its faces
(on FER-2013 they call far more faces neutral, and far fewer fearful ones fear, than the labels
imply). Their answers teach it. An answer is one person's class for one face: a single answer
from a reviewer, one of FER+'s ten votes, one of several annotators' answers to a task.

The model starts from the crowd-free estimate and learns only what the answers correct:

    P(consensus = j | face) = softmax_j( log q_j + b_j + sum_k W[j, k] f_k )

with q the crowd-free posterior P(true class | signals, given label) (`signals.estimate`), b a
bias per class (how the people's reading of each class differs from the labels'), and W the
weights of the face's features f (the log of the mixed class probabilities and the given label,
standardised; optionally more, e.g. embedding components). W is shrunk toward zero by an L2
penalty whose strength is chosen by cross-validation on the answers themselves (by face): with a
few hundred answers the biases carry the correction, with thousands W learns how the people
relate to the model and the label. Each answered face enters the fit once, as the consensus of
its answers (`AnswerSet.from_counts`: one answer is its own consensus, ten votes give their
plurality, annotators weighted by their quality where it is known): the calibration learns P(the
people's consensus = j | face), from noisy single answers as from full pluralities.

The faces were often chosen because they were flagged (review decisions, a strategy that asks
where the audit doubts): the selection depends only on the face's signals, which are the model's
inputs, so a conditional model of P(consensus | signals) stays unbiased under it as far as it is
well specified; the answers that judge are drawn at random (`curate annotate --holdout`) and never
fit, so the figures reported on them measure any bias that remains.

A face that has answers is scored by models fitted without them (cross-fitting): its own answers
never score it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

# Penalty strengths tried: lam * |W|^2 / 2 beside the mean (weighted) log-loss of the answers.
LAMBDAS = (100.0, 30.0, 10.0, 3.0, 1.0, 0.3, 0.1, 0.03, 0.01)
BIAS_PENALTY = 1e-3  # per answer: keeps the biases finite for a class nobody chose
CV_FOLDS = 5
MIN_ANSWERS = 20  # answered faces; fewer: the crowd-free estimate stands
EPS = 1e-12


@dataclass(frozen=True)
class AnswerSet:
    """People's answers in the 7 classes: the row (face) of each, its class and its weight."""

    row: np.ndarray  # (A,) int
    label: np.ndarray  # (A,) int, class index
    weight: np.ndarray  # (A,) float

    def __len__(self) -> int:
        return len(self.row)

    def take(self, mask: np.ndarray) -> AnswerSet:
        return AnswerSet(self.row[mask], self.label[mask], self.weight[mask])

    @classmethod
    def from_counts(cls, counts: np.ndarray, weighted: np.ndarray | None = None) -> AnswerSet:
        """The people's consensus of each face with answers, from a (rows, classes) matrix of
        its answers per class (FER+'s emotion votes): the class with the most answers, weight 1
        per face (a tie shares it). One answer is its own consensus; ten votes give their
        plurality. With `weighted` (the same answers, each weighted by its annotator's
        quality: `annotator_weighted`), the consensus is the weighted plurality and a face
        weighs the mean quality of the annotators who gave it."""
        c = np.asarray(counts, dtype=np.float64)
        w = c if weighted is None else np.asarray(weighted, dtype=np.float64)
        top = w.max(1, keepdims=True)
        rows, labels = np.nonzero((w == top) & (top > 0) & (c > 0))
        ties = np.bincount(rows, minlength=len(c)).astype(np.float64)
        mean_quality = w[rows, labels] / c[rows, labels]
        return cls(rows.astype(np.int64), labels.astype(np.int64), mean_quality / ties[rows])


def annotator_weighted(faces: list[list[tuple[str, int]]], quality: dict[str, float],
                       n_classes: int) -> np.ndarray:
    """(rows, classes): each face's answers (annotator, class index) summed with their
    annotator's quality (1 for an annotator without one, e.g. FER+'s per-face pseudo-annotators)."""
    out = np.zeros((len(faces), n_classes))
    for i, face in enumerate(faces):
        for who, label in face:
            out[i, label] += quality.get(who, 1.0)
    return out


def features(labels: np.ndarray, mixed: np.ndarray, extra: np.ndarray | None = None) -> np.ndarray:
    """What the calibration sees of a face beyond q: the log mixed class probabilities and the
    given label (one-hot), and `extra` columns, each standardised."""
    n_classes = mixed.shape[1]
    cols = [np.log(np.clip(mixed, 1e-6, 1.0)), np.eye(n_classes)[labels]]
    if extra is not None:
        cols.append(np.asarray(extra, dtype=np.float64))
    x = np.hstack(cols)
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


@dataclass(frozen=True)
class Fit:
    """A fitted correction: per-class biases and feature weights (classes x features)."""

    bias: np.ndarray
    weights: np.ndarray

    def predict(self, offset: np.ndarray, x: np.ndarray) -> np.ndarray:
        return _softmax(offset + self.bias + x @ self.weights.T)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def fit(offset: np.ndarray, x: np.ndarray, answers: AnswerSet, lam: float) -> Fit:
    """The weighted multinomial log-loss of the answers, penalised, minimised (L-BFGS)."""
    from scipy.optimize import minimize

    n_classes, n_feat = offset.shape[1], x.shape[1]
    o, xa = offset[answers.row], x[answers.row]
    w = answers.weight / answers.weight.sum()
    y = np.eye(n_classes)[answers.label]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        b, wm = theta[:n_classes], theta[n_classes:].reshape(n_classes, n_feat)
        p = _softmax(o + b + xa @ wm.T)
        nll = -float((w * np.log(np.clip((p * y).sum(1), EPS, None))).sum())
        r = (p - y) * w[:, None]
        grad_b = r.sum(0) + BIAS_PENALTY * b
        grad_w = r.T @ xa + lam * wm
        value = nll + 0.5 * BIAS_PENALTY * float(b @ b) + 0.5 * lam * float((wm * wm).sum())
        return value, np.concatenate([grad_b, grad_w.ravel()])

    theta0 = np.zeros(n_classes * (1 + n_feat))
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return Fit(res.x[:n_classes], res.x[n_classes:].reshape(n_classes, n_feat))


def _folds(rows: np.ndarray, folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(fit mask, held mask) over answers, grouped by face: a face's answers share a fold."""
    faces = np.unique(rows)
    part = dict(zip(faces.tolist(),
                    (np.random.default_rng(seed).permutation(len(faces)) % folds).tolist(),
                    strict=True))
    of = np.array([part[r] for r in rows.tolist()])
    for k in range(folds):
        if (of == k).any() and (of != k).any():
            yield of != k, of == k


def choose_lambda(offset: np.ndarray, x: np.ndarray, answers: AnswerSet, seed: int = 0) -> float:
    """The penalty with the least held-out log-loss of the answers (grouped K-fold)."""
    best, best_loss = LAMBDAS[0], np.inf
    for lam in LAMBDAS:
        total = 0.0
        for fit_m, held_m in _folds(answers.row, CV_FOLDS, seed):
            model = fit(offset, x, answers.take(fit_m), lam)
            held = answers.take(held_m)
            p = model.predict(offset[held.row], x[held.row])[np.arange(len(held)), held.label]
            total -= float((held.weight * np.log(np.clip(p, EPS, None))).sum())
        if total < best_loss:
            best, best_loss = lam, total
    return best


@dataclass(frozen=True)
class Calibrated:
    """P(the people's consensus = j | face) for every row, what the fit chose, and its learning
    curve: (answered faces fitted on, held-out consensus accuracy, the crowd-free estimate's)."""

    posterior: np.ndarray
    lam: float
    faces: int
    curve: tuple[tuple[int, float, float], ...] = ()


CURVE_FRACTIONS = (0.25, 0.5, 1.0)


def learning_curve(offset: np.ndarray, x: np.ndarray, answers: AnswerSet, lam: float,
                   seed: int = 0) -> tuple[tuple[int, float, float], ...]:
    """How well the calibration predicts the consensus of answered faces it never saw, fitted on
    a growing share of the others (grouped K-fold), beside the crowd-free estimate: whether more
    answers would still help."""
    rng = np.random.default_rng(seed)
    out = []
    for share in CURVE_FRACTIONS:
        hit = free = total = 0.0
        fitted = []
        for fit_m, held_m in _folds(answers.row, CV_FOLDS, seed + 2):
            faces = np.unique(answers.row[fit_m])
            keep = rng.permutation(faces)[: max(1, int(round(share * len(faces))))]
            sub = answers.take(fit_m & np.isin(answers.row, keep))
            if len(np.unique(sub.label)) < 2:
                continue
            held = answers.take(held_m)
            pred = fit(offset, x, sub, lam).predict(offset[held.row], x[held.row]).argmax(1)
            hit += float((held.weight * (pred == held.label)).sum())
            free += float((held.weight * (offset[held.row].argmax(1) == held.label)).sum())
            total += float(held.weight.sum())
            fitted.append(len(keep))
        if total:
            out.append((int(np.mean(fitted)), hit / total, free / total))
    return tuple(out)


def calibrate(q: np.ndarray, x: np.ndarray, answers: AnswerSet, *, seed: int = 0,
              folds: int = CV_FOLDS) -> Calibrated | None:
    """The calibrated posterior of every row (None below MIN_ANSWERS: the crowd-free estimate
    stands). Rows without answers are scored by the fit on every answer; a row with answers by
    the fit on the other folds' faces."""
    if len(np.unique(answers.row)) < MIN_ANSWERS or len(np.unique(answers.label)) < 2:
        return None
    offset = np.log(np.clip(q, 1e-9, 1.0))
    lam = choose_lambda(offset, x, answers, seed)
    out = fit(offset, x, answers, lam).predict(offset, x)
    for fit_m, held_m in _folds(answers.row, folds, seed + 1):
        held_rows = np.unique(answers.row[held_m])
        out[held_rows] = fit(offset, x, answers.take(fit_m), lam).predict(
            offset[held_rows], x[held_rows])
    faces = int(len(np.unique(answers.row)))
    return Calibrated(out, lam, faces, learning_curve(offset, x, answers, lam, seed))
