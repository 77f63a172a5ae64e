"""The review queue that learns from the reviewer: arrays in, arrays out.

The static order is the label check's estimate, `label_error_prob`, most likely errors first.
After each batch of decisions the rest is re-scored with what the reviewer said, by a logistic
model whose offset is the static estimate's log-odds (with no decisions it *is* the static
order; an L2 prior pulls every learnt weight to zero, so a few answers move it a little):

    logit P(wrong) = logit(p_static) + w . z

z holds what the static estimate cannot know and the answers can teach:
- the given class (one-hot): per-class precision, e.g. the reviewer keeps most "happy" flags;
- the log of the label check's class probabilities, centred: which confusions are real (on
  FER-2013 the crowd calls many "sad" and "fear" faces neutral, which the model, trained on
  FER-2013's labels, underrates);
- the answers of the reviewed faces nearest in feature space (cosine, k nearest): the mean of
  (answer - static estimate) over them, weighted by similarity, so faces near confirmed errors
  move up and faces near confirmed keeps move down.
Nothing here is tuned on held-out votes: the prior's strength and k are fixed, the weights
are fitted on the reviewer's own answers.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

EPS = 1e-4
NEIGHBOURS = 10
PRIOR = 1.0  # L2 strength on the learnt weights (a unit-variance Gaussian prior)
MIN_ANSWERS = 10  # fewer answers, or answers all alike: the static order
NEWTON_STEPS = 25


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, EPS, 1 - EPS)
    return np.log(p / (1 - p))


def neighbour_residual(features: np.ndarray, reviewed: np.ndarray, residual: np.ndarray,
                       k: int = NEIGHBOURS) -> np.ndarray:
    """(N,): per row, the similarity-weighted mean residual of its k nearest reviewed rows
    (a reviewed row never counts itself); 0 where no reviewed row is similar."""
    f = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    out = np.zeros(len(f))
    if len(reviewed) == 0:
        return out
    k = min(k, len(reviewed))
    ref = f[reviewed]
    for start in range(0, len(f), 4096):
        sim = f[start:start + 4096] @ ref.T
        rows = np.arange(start, min(start + 4096, len(f)))
        self_hit = reviewed[None, :] == rows[:, None]
        sim[self_hit] = -np.inf
        top = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sim, top, 1)
        w = np.where(np.isfinite(s), np.maximum(s, 0.0), 0.0)
        total = w.sum(1)
        out[rows] = np.where(total > 0, (w * residual[top]).sum(1) / np.maximum(total, 1e-12), 0)
    return out


def design(labels: np.ndarray, probs: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """z of the module doc: given class one-hot, centred log probabilities, neighbours."""
    n_classes = probs.shape[1]
    logp = np.log(np.clip(probs, 1e-6, 1.0))
    logp -= logp.mean(1, keepdims=True)
    return np.hstack([np.eye(n_classes)[labels], logp, neighbours[:, None]])


def fit_offset_logistic(z: np.ndarray, offset: np.ndarray, y: np.ndarray,
                        prior: float = PRIOR) -> np.ndarray:
    """Weights w maximising the log-likelihood of y under logit = offset + z w, minus
    prior/2 |w|^2 (Newton's method; the problem is strictly convex)."""
    w = np.zeros(z.shape[1])
    for _ in range(NEWTON_STEPS):
        p = expit(offset + z @ w)
        grad = z.T @ (p - y) + prior * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + prior * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def rerank(p_static: np.ndarray, labels: np.ndarray, probs: np.ndarray,
           features: np.ndarray | None, reviewed: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """(N,) re-scored P(label wrong) for every row, given the answers `wrong` (bool) on the
    rows `reviewed` (indices). Rank the unreviewed rows by it, highest first."""
    reviewed = np.asarray(reviewed, dtype=np.int64)
    y = np.asarray(wrong, dtype=np.float64)
    if len(reviewed) < MIN_ANSWERS or y.min() == y.max():
        return p_static.astype(np.float64).copy()
    offset = logit(p_static)
    near = (neighbour_residual(features, reviewed, y - p_static[reviewed])
            if features is not None else np.zeros(len(p_static)))
    z = design(labels, probs, near)
    w = fit_offset_logistic(z[reviewed], offset[reviewed], y)
    return expit(offset + z @ w)


def ceiling(p_static: np.ndarray, labels: np.ndarray, probs: np.ndarray,
            features: np.ndarray | None, truth_wrong: np.ndarray, folds: int = 5,
            seed: int = 0) -> np.ndarray:
    """(N,) what `rerank` scores when it already knows most answers: each row re-scored by the
    model fitted on the answers of the other `folds - 1` folds of *all* rows (cross-fitted, so
    no row scores itself). No queue reviewing in batches can learn more from these inputs than
    this, so it bounds the learning queue's gain over the static order (bench_review)."""
    from curate.clean.signals import cross_fit

    out = np.zeros(len(p_static))
    y = np.asarray(truth_wrong, dtype=np.float64)
    for fit, held in cross_fit(np.arange(len(p_static)), folds, seed):
        out[held] = rerank(p_static, labels, probs, features, fit, y[fit])[held]
    return out


def next_batch(scores: np.ndarray, reviewed: np.ndarray, size: int) -> np.ndarray:
    """Indices of the `size` unreviewed rows with the highest scores, highest first."""
    mask = np.ones(len(scores), bool)
    mask[np.asarray(reviewed, dtype=np.int64)] = False
    left = np.flatnonzero(mask)
    order = left[np.argsort(-scores[left], kind="stable")]
    return order[:size]


def simulate(p_static: np.ndarray, labels: np.ndarray, probs: np.ndarray,
             features: np.ndarray | None, truth_wrong: np.ndarray, batch: int, budget: int,
             learn: bool = True) -> np.ndarray:
    """A reviewer answering from `truth_wrong` (bool per row) reviews `budget` rows in batches
    of `batch`, the queue re-ranked after each batch (`learn`) or kept static. Returns the
    cumulative count of real errors found after each reviewed row (length budget)."""
    reviewed: list[int] = []
    scores = p_static.astype(np.float64)
    while len(reviewed) < min(budget, len(p_static)):
        take = next_batch(scores, np.array(reviewed, np.int64), min(batch, budget - len(reviewed)))
        reviewed.extend(take.tolist())
        if learn:
            idx = np.array(reviewed, np.int64)
            scores = rerank(p_static, labels, probs, features, idx, truth_wrong[idx])
    return np.cumsum(truth_wrong[np.array(reviewed, np.int64)])
