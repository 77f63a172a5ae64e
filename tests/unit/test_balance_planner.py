"""Property tests of the pure balance planner, selections and the grouped re-split."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curate.balance.plan import (
    BalanceConfig,
    choose_drops,
    choose_parents,
    max_reachable,
    plan_counts,
    stratified_group_split,
)
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES, SPLITS

counts_st = st.fixed_dictionaries(
    {(s, c): st.integers(0, 3000) for s in SPLITS for c in CLASSES})


@settings(max_examples=300, deadline=None)
@given(real=counts_st, target=st.integers(1, 4000), max_syn=st.floats(0, 1),
       max_aug=st.floats(0, 10), existing=st.dictionaries(st.sampled_from(CLASSES),
                                                          st.integers(0, 500)))
def test_plan_hits_targets_or_says_why(real, target, max_syn, max_aug, existing):
    cfg = BalanceConfig(target=target, max_synthetic=max_syn, max_augment=max_aug)
    try:
        plan = plan_counts(real, cfg, existing)
    except InputError as e:
        msg = str(e)
        assert f"--target {target} is out of reach" in msg
        reach = max_reachable(real, cfg)
        assert reach is not None and reach < target
        assert (f"lower --target to {reach}" if reach else "add real images") in msg
        if reach:
            fixed = BalanceConfig(target=reach, max_synthetic=max_syn, max_augment=max_aug)
            plan_counts(real, fixed, existing)  # the fix works
        return
    for row in plan.rows:
        if row.split == "train":
            assert row.final == target  # class totals hit the target
            assert row.synthetic <= math.floor(max_syn * target) + 1e-9  # fraction of final
            assert row.synthetic <= max_syn * row.final
            assert row.augmented <= max_aug * row.real
            assert row.removed == max(0, row.real - target)
            assert row.synthetic_needed == max(0, row.synthetic - existing.get(row.cls, 0))
        else:  # val and test are never balanced: no synthetic, no augmented, nothing removed
            assert (row.removed, row.augmented, row.synthetic) == (0, 0, 0)
            assert row.final == real[(row.split, row.cls)]


def test_augmentation_first_then_synthetic_and_the_error_names_numbers():
    real = {("train", c): 100 for c in CLASSES} | {("train", "disgust"): 10}
    plan = plan_counts(real, BalanceConfig(target=100, max_synthetic=0.5, max_augment=4))
    row = plan.row("train", "disgust")
    assert (row.real, row.augmented, row.synthetic, row.final) == (10, 40, 50, 100)
    with pytest.raises(InputError) as e:
        plan_counts(real, BalanceConfig(target=100, max_synthetic=0.0, max_augment=4))
    assert "disgust 10 real + 40 augmented + 0 synthetic = 50" in str(e.value)
    assert "lower --target to 50" in str(e.value) and "--max-synthetic to 0.5" in str(e.value)


def test_no_undersample_makes_the_target_a_floor():
    real = {("train", c): 100 for c in CLASSES} | {("train", "happy"): 300, ("train", "disgust"): 20}
    plan = plan_counts(real, BalanceConfig(target=120, max_augment=9, undersample=False))
    assert plan.row("train", "happy").final == 300 and plan.row("train", "happy").removed == 0
    assert plan.row("train", "disgust").augmented == 100
    assert {plan.row("train", c).final for c in CLASSES} == {120, 300}
    with pytest.raises(InputError, match="--augment 'mixup'"):
        BalanceConfig(target=5, augment="mixup")


def test_plan_without_target_changes_nothing():
    plan = plan_counts({("train", "happy"): 5}, BalanceConfig(target=None))
    assert plan.row("train", "happy").final == 5


@settings(max_examples=200, deadline=None)
@given(groups=st.lists(st.one_of(st.none(), st.integers(0, 8)), min_size=1, max_size=60),
       n=st.integers(0, 60), seed=st.integers(0, 5))
def test_drops_take_duplicates_first_and_are_deterministic(groups, n, seed):
    keys = [f"fer2013/{i}" for i in range(len(groups))]
    gs = [None if g is None else f"g{g}" for g in groups]
    drops = choose_drops(keys, gs, n, seed)
    assert drops == choose_drops(keys, gs, n, seed)
    assert len(drops) == min(n, len(keys)) and len(set(drops)) == len(drops)
    extras = len(gs) - len({g for g in gs if g is not None}) - gs.count(None)
    by_key = dict(zip(keys, gs, strict=True))
    kept = {by_key[k] for k in keys if k not in drops}
    if n <= extras:  # only duplicates dropped: every group keeps one member
        assert {g for g in gs if g is not None} <= kept
    else:  # the duplicate extras went first: after them every group has one member left
        left = Counter(by_key[k] for k in keys if k not in set(drops[:extras]))
        assert all(n == 1 for g, n in left.items() if g is not None)


def test_parents_spread_evenly():
    pairs = choose_parents(["a", "b", "c"], 7, seed=0)
    assert len(pairs) == 7 and len(set(pairs)) == 7
    per = defaultdict(int)
    for key, _ in pairs:
        per[key] += 1
    assert sorted(per.values()) == [2, 2, 3]
    assert choose_parents(["a", "b", "c"], 4, seed=0) == pairs[:4]  # growing adds copies only


@settings(max_examples=100, deadline=None)
@given(data=st.lists(st.tuples(st.sampled_from(CLASSES), st.integers(0, 40)),
                     min_size=1, max_size=300), seed=st.integers(0, 3))
def test_resplit_never_splits_a_group_and_is_stratified(data, seed):
    labels = [c for c, _ in data]
    groups = [f"g{g}" if g < 30 else f"id:{i}" for i, (_, g) in enumerate(data)]
    fr = {"train": 0.8, "val": 0.1, "test": 0.1}
    out = stratified_group_split(labels, groups, fr, seed)
    assert out == stratified_group_split(labels, groups, fr, seed)
    assert set(out) <= set(fr) and "" not in out
    where = {}
    for g, s in zip(groups, out, strict=True):
        assert where.setdefault(g, s) == s  # no group crosses splits


def test_resplit_proportions_without_groups():
    labels = [CLASSES[i % 7] for i in range(7000)]
    out = stratified_group_split(labels, [str(i) for i in range(7000)],
                                 {"train": 0.8, "val": 0.1, "test": 0.1}, seed=0)
    for cls in CLASSES:
        got = [s for s, c in zip(out, labels, strict=True) if c == cls]
        assert abs(got.count("test") - 100) <= 1 and abs(got.count("train") - 800) <= 1


def test_config_validation():
    for bad in (dict(target=0), dict(target=5, max_synthetic=1.5), dict(target=5, max_augment=-1)):
        with pytest.raises(InputError):
            BalanceConfig(**bad)
