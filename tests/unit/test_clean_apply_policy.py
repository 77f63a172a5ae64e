"""The --auto policy of `curate apply` over exact-duplicate groups (pure)."""

from __future__ import annotations

from curate.apply import _decision, auto_drops


def _row(i, split, label, group):
    return {"id": f"{i:02d}", "split": split, "label": label, "exact_group": group}


def test_auto_policy_keeps_test_copy_drops_conflicts_keeps_repeats_within_a_split():
    rows = [_row(0, "train", "happy", 0), _row(1, "test", "happy", 0),       # leak -> drop 0
            _row(2, "train", "sad", 1), _row(3, "val", "angry", 1),          # conflict: both
            _row(4, "train", "fear", 2), _row(5, "train", "fear", 2), _row(6, "train", "fear", 2),
                                                                               # repeats: kept
            _row(7, "train", "fear", 3), _row(8, "val", "fear", 3),           # train+val: drop 8
            _row(9, "test", "sad", 4), _row(10, "test", "sad", 4),            # test only: untouched
            _row(11, "train", "sad", None),
            _row(12, "test", "sad", 5), _row(13, "test", "happy", 5)]        # test conflict
    out = auto_drops(rows, include_test=False)
    assert set(out) == {"00", "02", "03", "08"}
    assert "conflicting" in out["02"] and "test" in out["00"]
    assert out["08"] == "auto: exact duplicate of a train sample"
    assert set(auto_drops(rows, include_test=True)) == set(out) | {"12", "13"}


def test_review_decisions():
    assert _decision(["review:drop"]) == ("drop", None)
    assert _decision(["review:keep", "issue:leak"]) == ("keep", None)
    assert _decision(["review:relabel:sad"]) == ("relabel", "sad")
    assert _decision(["review:drop", "review:keep"])[0] == "conflict"
    assert _decision(["issue:duplicate"]) == (None, None)
