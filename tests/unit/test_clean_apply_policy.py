"""The --auto policy of `curate apply` over exact-duplicate groups (pure)."""

from __future__ import annotations

from curate.apply import auto_drops, review_decision


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


def test_auto_policy_judges_the_labels_before_its_own_relabels():
    # a re-run after --auto relabelled one copy of a pair: the same decision as the first run
    same = [_row(0, "train", "sad", 0), _row(1, "train", "sad", 0)]
    same[1] |= {"label": "angry", "label_reason": "auto: P(angry) 0.6 > P(sad) 0.2",
                "source": "folder", "orig": "sad"}
    assert auto_drops(same, include_test=False) == {}
    reviewed = [dict(same[0]), dict(same[1], label_reason="review")]  # a reviewer's label counts
    assert set(auto_drops(reviewed, include_test=False)) == {"00", "01"}


def test_review_decisions():
    assert review_decision(["review:drop"]) == ("drop", None)
    assert review_decision(["review:keep", "issue:leak"]) == ("keep", None)
    assert review_decision(["review:relabel:sad"]) == ("relabel", "sad")
    assert review_decision(["review:drop", "review:keep"])[0] == "conflict"
    assert review_decision(["issue:duplicate"]) == (None, None)


def test_auto_relabels_only_where_the_suggestion_is_more_probable_than_the_label():
    import numpy as np

    from curate.apply import ApplyConfig, auto_relabel_targets
    from curate.apply.labels import policy_label as _policy_label

    post = np.array([[0.6, 0.3, 0.1, 0, 0, 0, 0],      # the label (0) is likelier: kept
                     [0.3, 0.5, 0.2, 0, 0, 0, 0],      # 1 beats the label 0: relabelled
                     [0.4, 0.4, 0.2, 0, 0, 0, 0]])     # a tie keeps the label
    assert auto_relabel_targets(np.array([0, 0, 0]), post).tolist() == [0, 1, 0]

    def row(split: str, label: str, posterior, why=None) -> dict:
        return {"id": "a", "split": split, "label": label, "source": "fer2013", "orig": "0",
                "posterior": posterior, "label_reason": why}

    auto = ApplyConfig(auto=True, labels="given")
    label, why = _policy_label(row("train", "angry", post[1]), auto)
    assert label == "disgust" and why.startswith("auto:") and "0.50 > P(angry) 0.30" in why
    assert _policy_label(row("train", "angry", post[0]), auto) == ("angry", None)
    assert _policy_label(row("test", "angry", post[1]), auto) == ("angry", None)  # protected
    # a relabel an earlier --auto made that the current posterior no longer supports: undone
    assert _policy_label(row("train", "disgust", post[0], "auto: old"), auto) == ("angry", None)
    # without --auto an earlier auto relabel stays as it is
    plain = ApplyConfig(labels="given")
    assert _policy_label(row("train", "disgust", post[0], "auto: old"), plain) == (
        "disgust", "auto: old")
    crowd = {**row("train", "angry", post[0]), "crowd": "sad", "crowd_agreement": 0.7}
    assert _policy_label(crowd, ApplyConfig(labels="crowd")) == (
        "sad", "crowd: consensus (70% of the votes)")
    assert _policy_label({**crowd, "label": "sad", "label_reason": "crowd: x"}, plain) == (
        "angry", None)                                   # --labels given undoes the crowd's
