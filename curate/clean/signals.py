"""The label check's signals and their combination, on arrays (no model, no database).

A label is suspect when the out-of-fold model disagrees with it (`model`), when its nearest
neighbours in the fold model's embedding carry other labels (`knn`, Datalab's kNN label
signal, here on held-out embeddings only: a sample is compared with the samples its own fold
model never saw, so no neighbour's label was memorised), or both. The combination:

1. `mix`: the model's and the neighbours' class probabilities, mixed with the weight that best
   predicts the given labels (log-loss over the checked rows: chosen from the data, not from
   any truth);
2. `posterior`: Bayes' rule with cleanlab's confident joint (the estimated joint of given and
   true labels, `cleanlab.count.estimate_joint`): P(true = j | x, given = i) is proportional
   to P(given = i | true = j) p(j | x), the mixed probabilities standing in for p(j | x). A
   suggestion the noise rarely turns into the given label counts for less than the model's
   bare disagreement says. Its complement at the given class, brought to the joint's estimated
   error count (`calibrate_level`), is `p_wrong`, the estimated probability that the label is
   wrong: it ranks the flags (`label_quality` = 1 - p_wrong) and estimates their precision;
   Where people answered for some faces (FER+ votes, a reviewer, an annotation task), the
   posterior is calibrated on their answers (`curate.clean.calibration`): it starts from this
   estimate and learns what the answers correct, fitted on the answered faces and applied to
   the others; each answered face is scored by the folds that exclude it. The people's idea of
   an expression then reaches the faces nobody answered (on FER-2013 the crowd calls far more
   faces neutral than the labels do, which no noise model of the labels alone sees);
3. `flag_to_precision`: per class, the largest set of most suspect labels whose estimated
   precision (mean p_wrong) reaches the target, so no class floods the review queue with
   labels the model merely finds hard.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from curate.clean import calibration
from curate.clean.calibration import AnswerSet, Calibrated
from curate.core.errors import InputError

K_LABEL = 15  # neighbours of the kNN label signal
PRIOR_WEIGHT = 1.0  # pseudo-votes of the class prior in each kNN distribution
MIX_GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
TARGET_PRECISION = 0.8
SIGNALS = ("model", "knn", "combined")
EPS = 1e-12


def normalise(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, None)
    s = p.sum(1, keepdims=True)
    return np.where(s > 0, p / np.where(s > 0, s, 1.0), 1.0 / p.shape[1])


def knn_label_probs(features: np.ndarray, labels: np.ndarray, groups: np.ndarray,
                    n_classes: int, *, k: int = K_LABEL,
                    prior_weight: float = PRIOR_WEIGHT) -> np.ndarray:
    """(N, classes): the labels of each row's k nearest neighbours (cosine) within its group,
    itself left out, smoothed by `prior_weight` pseudo-votes of the group's class prior."""
    from curate.clean import knn

    x = np.asarray(features, dtype=np.float32)
    out = np.zeros((len(x), n_classes))
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        prior = np.bincount(labels[rows], minlength=n_classes) / max(len(rows), 1)
        kk = min(k, len(rows) - 1)
        if kk < 1:
            out[rows] = prior
            continue
        _, neighbours, _ = knn.neighbours(x[rows], kk, metric="cosine")  # itself left out
        votes = np.zeros((len(rows), n_classes))
        np.add.at(votes, (np.repeat(np.arange(len(rows)), kk), labels[rows][neighbours].ravel()),
                  1.0)
        out[rows] = (votes + prior_weight * prior) / (kk + prior_weight)
    return out


def mix_weight(model: np.ndarray, knn: np.ndarray, labels: np.ndarray) -> float:
    """The weight w of `knn` in (1 - w) model + w knn that best predicts the given labels."""
    from train.metrics import log_loss  # numpy only (docs/architecture.md: train, lazily)

    losses = [log_loss((1 - w) * model + w * knn, labels, eps=EPS) for w in MIX_GRID]
    return float(MIX_GRID[int(np.argmin(losses))])


def confident_joint(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """cleanlab's calibrated joint (given i, true j), rows = given; sums to 1."""
    from cleanlab.count import estimate_joint

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(estimate_joint(labels, probs), dtype=np.float64)


def posterior(labels: np.ndarray, probs: np.ndarray,
              joint: np.ndarray) -> np.ndarray:
    """(N, classes): P(true = j | x, given) by Bayes' rule with the noise of `joint`:
    P(given = i | true = j) = joint[i, j] / sum_i joint[i, j]."""
    true_mass = joint.sum(0, keepdims=True)
    noise = joint / np.where(true_mass > 0, true_mass, 1.0)  # noise[i, j] = P(given i | true j)
    post = noise[labels] * probs
    return normalise(post)


def cross_fit(rows: np.ndarray, folds: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(fit, held) of each of `folds` random parts of `rows` (a seeded permutation), skipping an
    empty part: fit a model on `fit`, score `held`, and no row is scored by its own answer."""
    part = np.random.default_rng(seed).permutation(len(rows)) % folds
    for k in range(folds):
        if (part == k).any():
            yield rows[part != k], rows[part == k]


@dataclass(frozen=True)
class Signals:
    """Every signal's class probabilities and the combination's estimate, per row."""

    model: np.ndarray  # (N, classes) out-of-fold probabilities
    knn: np.ndarray  # (N, classes) neighbours' labels
    weight: float  # of knn in the mix
    joint: np.ndarray  # (classes, classes) confident joint, rows = given
    posterior: np.ndarray  # (N, classes) P(true | x, given)
    p_wrong: np.ndarray  # (N,) 1 - posterior at the given class
    crowd_rows: int = 0  # faces with answers the posterior was calibrated on (0: crowd-free)
    calibration: Calibrated | None = None  # what the calibration chose and learnt

    def probs(self, signal: str) -> np.ndarray:
        """The class probabilities of one signal alone (`combined`: the mix)."""
        if signal not in SIGNALS:
            raise InputError(f"signal {signal!r}: use one of {', '.join(SIGNALS)}")
        if signal == "model":
            return self.model
        if signal == "knn":
            return self.knn
        return (1 - self.weight) * self.model + self.weight * self.knn


def joint_error_rate(joint: np.ndarray) -> float:
    """The confident joint's estimated share of wrong labels (1 - its trace)."""
    return float(np.clip(1.0 - np.trace(joint) / max(float(joint.sum()), EPS), 0.0, 1.0))


def calibrate_level(p_wrong: np.ndarray, expected: float) -> np.ndarray:
    """Shift the log-odds of every p_wrong by one constant so that their sum (the expected
    number of wrong labels) equals `expected`: the order is kept, the level comes from the
    confident joint. One shift for all classes: per-class shifts to the joint's per-class
    rates reorder the classes by those rates, which follow the given labels' own bias (on the
    FER+ dev votes they lowered AUROC from 0.868 to 0.845)."""
    p = np.asarray(p_wrong, dtype=np.float64)
    if not len(p):
        return p.copy()
    want = float(np.clip(expected, 1e-6, len(p) - 1e-6))
    logit = np.log(np.clip(p, 1e-9, 1 - 1e-9)) - np.log(np.clip(1 - p, 1e-9, 1 - 1e-9))
    lo, hi = -30.0, 30.0
    for _ in range(60):  # bisection on the shift: the sum grows with it
        mid = (lo + hi) / 2
        if (1 / (1 + np.exp(-(logit + mid)))).sum() < want:
            lo = mid
        else:
            hi = mid
    return 1 / (1 + np.exp(-(logit + (lo + hi) / 2)))


def combine(labels: np.ndarray, model: np.ndarray, features: np.ndarray | None,
            groups: np.ndarray, *, k: int = K_LABEL, answers: AnswerSet | None = None,
            seed: int = 0) -> Signals:
    """The model and kNN signals, their mix and the posterior of the true label (without
    features, or k = 0: the model alone). The posterior is Bayes' with the confident joint
    (crowd-free), calibrated on people's `answers` where there are enough of them
    (`curate.clean.calibration`)."""
    model = normalise(model)
    n_classes = model.shape[1]
    if features is None or k == 0:
        knn, w = model, 0.0
    else:
        knn = knn_label_probs(features, labels, groups, n_classes, k=k)
        w = mix_weight(model, knn, labels)
    mixed = normalise((1 - w) * model + w * knn)
    joint, post, p_wrong = estimate(labels, mixed)
    cal = None if answers is None else calibration.calibrate(
        post, calibration.features(labels, mixed), answers, seed=seed)
    if cal is not None:
        p_wrong = 1.0 - cal.posterior[np.arange(len(labels)), labels]
        return Signals(model, knn, w, joint, cal.posterior, p_wrong, cal.faces, cal)
    return Signals(model, knn, w, joint, post, p_wrong)


def estimate(labels: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(confident joint, posterior, p_wrong) of one signal's class probabilities."""
    joint = confident_joint(labels, probs)
    post = posterior(labels, probs, joint)
    raw = 1.0 - post[np.arange(len(labels)), labels]
    return joint, post, calibrate_level(raw, joint_error_rate(joint) * len(labels))


def flag_to_precision(p_wrong: np.ndarray, labels: np.ndarray, n_classes: int,
                      target: float = TARGET_PRECISION) -> np.ndarray:
    """Per class, flag the largest set of highest-p_wrong rows whose mean p_wrong (their
    estimated precision) is >= target; a row below 0.5 (more likely right than wrong) is never
    flagged."""
    if not 0.0 < target <= 1.0:
        raise InputError(f"--target-precision {target}: use a value in (0, 1]")
    flag = np.zeros(len(labels), bool)
    for c in range(n_classes):
        rows = np.flatnonzero(labels == c)
        if not len(rows):
            continue
        order = rows[np.argsort(-p_wrong[rows], kind="stable")]
        running = np.cumsum(p_wrong[order]) / np.arange(1, len(order) + 1)
        ok = np.flatnonzero((running >= target) & (p_wrong[order] >= 0.5))
        if len(ok):
            flag[order[: ok[-1] + 1]] = True
    return flag


def estimated_precision(p_wrong: np.ndarray, flag: np.ndarray, labels: np.ndarray,
                        classes: tuple[str, ...]) -> dict[str, dict[str, float | int | None]]:
    """Per class (and `all`): flags and their estimated precision (mean p_wrong)."""
    out: dict[str, dict[str, float | int | None]] = {}
    for c, name in [(c, n) for c, n in enumerate(classes)] + [(-1, "all")]:
        m = flag & ((labels == c) if c >= 0 else True)
        out[name] = {"flags": int(m.sum()),
                     "estimated_precision": float(p_wrong[m].mean()) if m.any() else None,
                     "estimated_errors": float(p_wrong[(labels == c) if c >= 0 else
                                                       slice(None)].sum())}
    return out
