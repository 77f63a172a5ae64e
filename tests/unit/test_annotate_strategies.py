"""What to ask: the random judges' share, the strategies' choices, and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from curate.annotate.strategies import (
    cell_quota,
    choose,
    holdout,
    pick_activelab,
    pick_random,
    pick_stratified,
)


def planted(n: int = 2000, seed: int = 0):
    """Given labels, suggestions disagreeing on a fifth of the faces, and error probabilities
    high where they disagree."""
    rng = np.random.default_rng(seed)
    given = rng.integers(0, 7, n)
    disagree = rng.random(n) < 0.2
    suggested = np.where(disagree, (given + rng.integers(1, 7, n)) % 7, given)
    p_wrong = np.where(disagree, rng.uniform(0.5, 0.95, n), rng.uniform(0.0, 0.1, n))
    return given, suggested, p_wrong, disagree


def test_holdout_is_the_share_of_the_budget_at_random():
    rng = np.random.default_rng(0)
    got = holdout(1000, 400, 0.2, rng)
    assert len(got) == 80 and len(set(got.tolist())) == 80 and got.max() < 1000
    assert len(holdout(10, 400, 0.2, np.random.default_rng(0))) == 2  # budget capped at n
    assert len(holdout(1000, 400, 0.0, rng)) == 0


def test_choose_splits_the_budget_and_never_picks_a_face_twice():
    given, suggested, p_wrong, _ = planted()
    for strategy in ("random", "stratified", "activelab"):
        cal, judge = choose(strategy, len(given), 400, 0.2, 3, given=given, suggested=suggested,
                            p_wrong=p_wrong, scores=1 - p_wrong)
        assert len(judge) == 80 and len(cal) == 320
        assert not set(cal.tolist()) & set(judge.tolist())


def test_choose_is_deterministic_in_its_seed():
    given, suggested, p_wrong, _ = planted()
    kw = dict(given=given, suggested=suggested, p_wrong=p_wrong)
    a = choose("stratified", len(given), 300, 0.2, 7, **kw)
    b = choose("stratified", len(given), 300, 0.2, 7, **kw)
    c = choose("stratified", len(given), 300, 0.2, 8, **kw)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert not (a[0] == c[0]).all()


def test_the_judges_do_not_depend_on_the_strategy():
    """The same seed draws the same random judges whatever the strategy: budgets compared
    across strategies are judged on the same faces."""
    given, suggested, p_wrong, _ = planted()
    judges = [choose(s, len(given), 200, 0.25, 1, given=given, suggested=suggested,
                     p_wrong=p_wrong, scores=p_wrong)[1] for s in ("random", "stratified",
                                                                   "activelab")]
    assert all((j == judges[0]).all() for j in judges)


def test_random_is_uniform():
    picks = np.concatenate([pick_random(10, 3, np.random.default_rng(s)) for s in range(3000)])
    counts = np.bincount(picks, minlength=10)
    assert counts.min() > 800 and counts.max() < 1000  # 900 expected each


def test_stratified_favours_the_cells_where_given_and_suggested_disagree():
    given, suggested, p_wrong, disagree = planted()
    got = pick_stratified(given, suggested, p_wrong, 300, np.random.default_rng(0))
    assert len(got) == 300 and len(set(got.tolist())) == 300
    share = disagree[got].mean()
    assert share > 0.7  # a fifth of the pool, most of the picks
    random_share = disagree[pick_random(len(given), 300, np.random.default_rng(0))].mean()
    assert share > random_share + 0.4
    agreeing_cells = {(int(g), int(s)) for g, s in zip(given[got], suggested[got], strict=True)
                      if g == s}
    assert len(agreeing_cells) >= 5  # the agreement cells still get a few answers


def test_stratified_weights_by_the_error_probability_within_a_cell():
    n = 1000
    given = np.zeros(n, dtype=int)
    suggested = np.ones(n, dtype=int)
    p_wrong = np.where(np.arange(n) < 100, 0.9, 0.05)
    got = pick_stratified(given, suggested, p_wrong, 100, np.random.default_rng(0))
    assert (got < 100).mean() > 0.35  # a tenth of the cell, about half of its picks


def test_cell_quota_respects_sizes_and_sums_to_k():
    q = cell_quota(np.array([10.0, 1.0, 1.0]), np.array([3, 50, 50]), 40)
    assert q.tolist()[0] == 3 and q.sum() == 40 and (q <= [3, 50, 50]).all()
    assert cell_quota(np.array([0.0, 0.0]), np.array([2, 2]), 3).sum() == 3
    assert cell_quota(np.array([1.0, 1.0, 1.0]), np.array([5, 5, 5]), 100).tolist() == [5, 5, 5]
    small = cell_quota(np.array([0.5, 0.3, 0.2]), np.array([9, 9, 9]), 2)
    assert small.tolist() == [1, 1, 0]


def test_activelab_asks_the_lowest_scores_first():
    scores = np.array([0.9, 0.1, 0.5, 0.1, 0.3])
    assert pick_activelab(scores, 3).tolist() == [1, 3, 4]


def test_an_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        choose("uncertainty", 10, 5, 0.2, 0)
