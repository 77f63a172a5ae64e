"""Which faces to ask about: pure functions on arrays (indices into the candidate pool).

- `holdout`: the share of a budget drawn uniformly at random that only judges (the label
  audit's calibration never fits on it, so the precision and agreement measured on it rest on
  answers it never saw);
- `pick_random`: the unbiased baseline;
- `pick_activelab`: the lowest ActiveLab scores first (cleanlab's
  `get_active_learning_scores`, computed by the stage; here only the order);
- `pick_stratified` (the project's default): stratified over the label check's (given label x
  suggested label) cells, more from the cells where the two disagree, weighted by the
  estimated probability that the label is wrong. The calibration learns what the model's
  suggestion is worth in each such pattern, so every pattern gets answers, and most go where
  answers change labels.
"""

from __future__ import annotations

import numpy as np

STRATEGIES = ("random", "activelab", "stratified")
DEFAULT_STRATEGY = "stratified"
FLOOR = 0.02  # every face's weight is at least this: agreement cells still get a few answers


def holdout(n: int, budget: int, share: float, rng: np.random.Generator) -> np.ndarray:
    """round(budget * share) indices of `n` candidates, uniformly at random (sorted)."""
    k = min(n, int(round(min(budget, n) * share)))
    return np.sort(rng.choice(n, size=k, replace=False)) if k else np.zeros(0, dtype=np.int64)


def pick_random(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """k of n indices, uniformly at random (sorted)."""
    return np.sort(rng.choice(n, size=min(k, n), replace=False))


def pick_activelab(scores: np.ndarray, k: int) -> np.ndarray:
    """The k lowest ActiveLab scores (ties: the earlier index first)."""
    return np.argsort(np.asarray(scores, dtype=np.float64), kind="stable")[:k]


def cell_quota(weights: np.ndarray, sizes: np.ndarray, k: int) -> np.ndarray:
    """Split k over cells in proportion to `weights`, never more than a cell's size (what a
    full cell cannot take goes to the others in proportion), rounded by largest remainders."""
    sizes = np.asarray(sizes, dtype=np.int64)
    k = min(k, int(sizes.sum()))
    w = np.asarray(weights, dtype=np.float64)
    ideal = np.zeros(len(sizes))
    capped = np.zeros(len(sizes), dtype=bool)
    while True:
        free = ~capped
        rest = k - sizes[capped].sum()
        wf = w[free] if w[free].sum() > 0 else np.ones(int(free.sum()))
        ideal[free] = wf / wf.sum() * rest
        ideal[capped] = sizes[capped]
        over = free & (ideal > sizes)
        if not over.any():
            break
        capped |= over
    quota = np.floor(ideal + 1e-9).astype(np.int64)
    frac = np.where(quota < sizes, ideal - quota, -1.0)
    quota[np.argsort(-frac, kind="stable")[:k - int(quota.sum())]] += 1
    return quota


def pick_stratified(given: np.ndarray, suggested: np.ndarray, p_wrong: np.ndarray, k: int,
                    rng: np.random.Generator) -> np.ndarray:
    """k indices stratified over (given x suggested) cells (see the module doc): a cell's share
    is its estimated errors (sum of `p_wrong`) plus FLOOR per face; within a cell, faces are
    drawn without replacement with probability proportional to p_wrong + FLOOR."""
    p = np.clip(np.nan_to_num(np.asarray(p_wrong, dtype=np.float64)), 0.0, 1.0) + FLOOR
    cells = np.asarray(given, dtype=np.int64) * 1000 + np.asarray(suggested, dtype=np.int64)
    keys, inverse = np.unique(cells, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(keys))
    quota = cell_quota(np.bincount(inverse, weights=p, minlength=len(keys)), sizes, k)
    out = []
    for c, q in enumerate(quota):
        if q:
            members = np.flatnonzero(inverse == c)
            w = p[members] / p[members].sum()
            out.append(rng.choice(members, size=int(q), replace=False, p=w))
    return np.sort(np.concatenate(out)) if out else np.zeros(0, dtype=np.int64)


def choose(strategy: str, n: int, budget: int, share: float, seed: int, *,
           given: np.ndarray | None = None, suggested: np.ndarray | None = None,
           p_wrong: np.ndarray | None = None,
           scores: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(calibrate, judge) indices of `n` candidates: the judges first, at random, then the
    rest of the budget by the strategy among the others. Deterministic in `seed`."""
    rng = np.random.default_rng(seed)
    judge = holdout(n, budget, share, rng)
    rest = np.setdiff1d(np.arange(n), judge)
    k = min(budget, n) - len(judge)
    if strategy == "random":
        got = pick_random(len(rest), k, rng)
    elif strategy == "activelab":
        assert scores is not None
        got = pick_activelab(np.asarray(scores)[rest], k)
    elif strategy == "stratified":
        assert given is not None and suggested is not None and p_wrong is not None
        got = pick_stratified(np.asarray(given)[rest], np.asarray(suggested)[rest],
                              np.asarray(p_wrong)[rest], k, rng)
    else:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    return np.sort(rest[got]), judge
