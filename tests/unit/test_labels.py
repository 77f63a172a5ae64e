"""Label scoring and FER+ agreement on synthetic probabilities (pure, no model, no DB)."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean.config import LabelsConfig
from curate.clean.features import score_features
from curate.clean.label_scores import score_labels
from curate.clean.label_stats import ferplus_agreement
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES


def _probs(labels: np.ndarray, flip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Confident, correct probabilities for the true class (the given label unless flipped)."""
    true = labels.copy()
    true[flip] = (labels[flip] + 3) % 7
    p = rng.dirichlet(np.ones(7) * 0.3, size=len(labels)) * 0.2
    p[np.arange(len(labels)), true] += 0.8
    return p / p.sum(1, keepdims=True)


def test_flipped_labels_are_flagged_and_suggested_back():
    rng = np.random.default_rng(1)
    given = np.arange(700) % 7
    flip = rng.choice(700, 50, replace=False)
    s = score_labels(given, _probs(given, flip, rng))
    assert s.is_issue[flip].mean() > 0.95
    assert s.is_issue.sum() - s.is_issue[flip].sum() <= 5
    found = flip[s.is_issue[flip]]
    assert (s.suggested[found] == (given[found] + 3) % 7).all()  # a flag suggests the truth
    assert s.quality[flip].max() < np.delete(s.quality, flip).min()
    assert (s.suggested_prob[~s.is_issue] > 0.5).all()  # unflagged: the label itself, likely
    assert np.allclose(s.quality, 1 - s.p_wrong) and (s.p_wrong[flip] > 0.5).mean() > 0.95


def _clusters(rng: np.random.Generator, n: int = 700, dim: int = 64,
              classes: np.ndarray | None = None) -> np.ndarray:
    """Non-negative features (as pooled ReLU activations) around 7 class centres (row i's
    class: classes[i], default i % 7)."""
    centres = rng.gamma(2.0, 1.0, size=(7, dim))
    cls = np.arange(n) % 7 if classes is None else classes
    return np.abs(centres[cls] + rng.normal(0, 0.5, size=(n, dim)))


def test_planted_outliers_and_near_duplicates_are_found_by_the_datalab_rules():
    rng = np.random.default_rng(2)
    x = _clusters(rng)
    odd = rng.choice(700, 12, replace=False)
    x[odd] = rng.gamma(2.0, 1.0, size=(len(odd), x.shape[1])) * rng.random((len(odd), 64)) ** 4
    for src, dst in ((5, 100), (100, 101), (101, 200), (300, 301)):  # a chain of 4, and a pair
        x[dst] = x[src] * 1.001
    out = score_features(x)
    assert out.is_outlier[odd].all() and out.is_outlier.sum() <= len(odd) + 21  # + 3% tail
    assert set(np.argsort(out.outlier_score)[:len(odd)]) == set(odd)  # the lowest scores
    planted = {5, 100, 101, 200, 300, 301}
    assert set(np.flatnonzero(out.is_near_duplicate)) == planted
    sets = out.set_id
    assert sets[5] == sets[100] == sets[101] == sets[200] != sets[300] == sets[301] >= 0
    assert sorted(set(sets[sets >= 0])) == [0, 1] and (sets[~out.is_near_duplicate] == -1).all()
    assert out.near_duplicate_score[list(planted)].max() < 0.05
    assert np.median(out.near_duplicate_score) > 0.5
    none = score_features(x, near_duplicate_threshold=0.0, outlier_threshold=0.0)
    assert not none.is_near_duplicate.any() and not none.is_outlier.any()


def test_feature_scores_of_tiny_inputs():
    one = score_features(np.ones((1, 8)))
    assert one.set_id.tolist() == [-1] and not one.is_outlier.any()
    three = score_features(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]))
    assert three.is_near_duplicate.tolist() == [True, True, False]


def _votes(*columns: tuple[int, int]) -> list[int]:
    """10 FER+ counts from (column, votes) pairs (columns: neutral, happiness, surprise,
    sadness, anger, disgust, fear, contempt, unknown, NF)."""
    out = [0] * 10
    for c, n in columns:
        out[c] = n
    return out


def test_ferplus_agreement_and_measured_precision():
    given = np.array([CLASSES.index(c) for c in ("angry", "disgust", "fear", "happy", "sad")])
    suggested = np.array([CLASSES.index(c) for c in ("angry", "fear", "fear", "sad", "sad")])
    votes = np.array([_votes((4, 8), (0, 2)),      # anger majority: the label is right
                      _votes((6, 6), (5, 4)),      # fear majority: disgust is wrong
                      [0] * 10,                    # no votes
                      _votes((7, 6), (1, 4)),      # contempt majority: happy is wrong
                      _votes((3, 5), (0, 5))])     # a tie: the plurality is the first column,
    #                                                neutral, so sad counts as wrong
    issue = np.array([False, True, True, True, True])
    out = ferplus_agreement(given, suggested, votes, issue)
    assert out["voted"] == 4 and out["with_majority"] == 2  # anger, fear (contempt: no class)
    assert out["given_agrees"] == 0.5 and out["suggested_agrees"] == 1.0
    assert out["measured_flags"] == 3 and out["measured_errors"] == 3  # disgust, happy, sad
    assert out["measured_precision"] == 1.0 and out["measured_recall"] == 1.0
    assert out["measured_precision_per_class"]["sad"] == 1.0
    assert out["measured_precision_per_class"]["angry"] is None  # no flag there
    assert ferplus_agreement(given, suggested, np.zeros((5, 10), np.int64), issue) == {}


def test_config_profiles_and_validation():
    fast, full = LabelsConfig(fast=True).oof_config(), LabelsConfig().oof_config()
    assert fast.folds < full.folds and fast.epochs < full.epochs
    assert LabelsConfig(fast=True, folds=4).oof_config().folds == 4
    with pytest.raises(InputError, match="unknown backbone"):
        LabelsConfig(backbone="resnet18x").oof_config()  # checked where timm is imported
    with pytest.raises(InputError, match="--filter-by"):
        LabelsConfig(filter_by="magic")
    with pytest.raises(InputError, match="--outlier-threshold"):
        LabelsConfig(outlier_threshold=2.0)
    with pytest.raises(InputError, match="--near-duplicate-threshold"):
        LabelsConfig(near_duplicate_threshold=-0.1)
    with pytest.raises(InputError, match="at least 2 folds"):
        LabelsConfig(folds=1)


def _arrays(rng: np.random.Generator, splits: list[str], flip: np.ndarray):
    from curate.clean.label_scores import LabelArrays

    n = len(splits)
    given = np.arange(n) % 7
    true = given.copy()
    true[flip] = (given[flip] + 3) % 7  # as _probs: the features follow the true class
    x = _clusters(rng, n, classes=true)
    x[1] = x[0] * 1.001  # a near-duplicate pair in train
    fold = np.where(np.array(splits) == "test", -1, np.arange(n) % 3)
    return LabelArrays([f"id{i}" for i in range(n)], [str(i) for i in range(n)],
                       np.array(splits, dtype=object), given, _probs(given, flip, rng), x, x,
                       fold, np.zeros((n, 10), np.int64))


def test_score_is_a_table_that_tags_train_and_val_only():
    from curate.clean.label_scores import score

    rng = np.random.default_rng(4)
    splits = ["train"] * 500 + ["val"] * 100 + ["test"] * 100
    flip = np.concatenate([rng.choice(600, 30, replace=False), 600 + np.arange(10)])
    table = score(_arrays(rng, splits, flip), LabelsConfig())
    assert table.check == "labels" and len(table.ids) == 700
    assert set(table.columns) == {"label_quality", "label_error_prob", "label_posterior", "suggested_label",
                                  "outlier_score", "near_duplicate_score", "near_duplicate_set"}
    assert table.columns["suggested_label"].kind == "classification"
    label, conf = table.columns["suggested_label"].values[flip[0]]
    assert label in CLASSES and 0 < conf <= 1
    assert set(table.flags) == {"label", "outlier", "near_duplicate", "crowd_given",
                                "crowd_model", "crowd_split"}
    test = np.arange(700) >= 600
    assert not any(table.flags[k][test].any() for k in table.flags)   # audited, never tagged
    assert table.flags["label"][flip[:30]].mean() >= 0.7
    assert table.flags["near_duplicate"][[0, 1]].all()
    assert table.stats["checked"] == 600 and table.stats["test_audited"] == 100
    assert table.stats["test_would_flag"] >= 8                     # the planted test flips
    assert table.stats["flagged"] == int(table.flags["label"].sum())
    assert sum(table.stats["flagged_per_class"].values()) == table.stats["flagged"]
    assert table.counts()["issue:label"] == table.stats["flagged"]


def test_a_model_below_the_weak_accuracy_tags_no_label_flag():
    """Flags of a model that mostly disagrees with every label are its own errors: none is
    tagged, the scores stay (to sort by) and the stats say how many were withheld."""
    from curate.clean.config import WEAK_MODEL_ACCURACY
    from curate.clean.label_scores import score, score_rows

    rng = np.random.default_rng(6)
    data = _arrays(rng, ["train"] * 300, np.zeros(0, np.int64))
    good = score(data, LabelsConfig())
    assert "flags_withheld" not in good.stats
    data.probs[:] = rng.dirichlet(np.ones(7) * 0.3, size=300)  # a model that knows nothing
    data.features[:] = rng.normal(size=data.features.shape)  # (its embeddings: features, heldout)
    assert (data.probs.argmax(1) == data.labels).mean() < WEAK_MODEL_ACCURACY
    weak = score(data, LabelsConfig())
    assert weak.stats["flagged"] == 0 and not weak.flags["label"].any()
    assert weak.stats["flags_withheld"] > 0
    assert np.ptp(weak.columns["label_quality"].values) > 0  # the ranking is still written
    warning = score_rows(data, LabelsConfig()).warning  # the one the report and the App show
    assert warning and f"({weak.stats['flags_withheld']} withheld)" in warning
    assert score_rows(_arrays(rng, ["train"] * 300, np.zeros(0, np.int64)),
                      LabelsConfig()).warning is None


def test_thresholds_reach_the_feature_flags():
    from curate.clean.label_scores import score

    rng = np.random.default_rng(5)
    data = _arrays(rng, ["train"] * 300, np.zeros(0, np.int64))
    default = score(data, LabelsConfig())
    none = score(data, LabelsConfig(outlier_threshold=0.0, near_duplicate_threshold=0.0))
    assert default.flags["near_duplicate"].any() and not none.flags["near_duplicate"].any()
    assert not none.flags["outlier"].any() and "test_audited" not in none.stats
    strict = score(data, LabelsConfig(filter_by="predicted_neq_given"))
    assert strict.stats["flagged"] >= default.stats["flagged"]


def test_config_resolves_profiles_into_the_oof_config():
    from curate.clean.config import PROFILES

    full = LabelsConfig().oof_config()
    assert (full.folds, full.epochs) == (PROFILES["default"]["folds"],
                                         PROFILES["default"]["epochs"]) == (5, 6)
    fast = LabelsConfig(fast=True).oof_config()
    assert (fast.folds, fast.epochs) == (3, 2)
    assert LabelsConfig(fast=True, folds=3, epochs=5).settings()["epochs"] == 5
    assert "device" not in LabelsConfig(device="cuda").settings()
    with pytest.raises(TypeError):
        LabelsConfig(3)  # keyword arguments only


def test_crowd_holdout_keeps_the_judges_votes_out_of_the_calibration():
    """With --crowd-holdout, a stable share of the voted rows never calibrates the audit: their
    scores are those of the crowd regression fitted on the other voted rows alone, so a judge's
    own votes cannot move its label_error_prob; test rows' votes only judge."""
    from dataclasses import replace

    from curate.clean.crowd import crowd_roles, judges
    from curate.clean.label_scores import score_rows
    from curate.core import schema

    ids = [str(i) for i in range(4000)]
    held = judges(ids, 0.5, seed=0)
    assert 0.45 < held.mean() < 0.55 and (held == judges(ids, 0.5, seed=0)).all()
    assert not judges(ids, 0.0, seed=0).any() and (held != judges(ids, 0.5, seed=1)).any()
    with pytest.raises(InputError, match="--crowd-holdout"):
        LabelsConfig(crowd_holdout=1.0)

    rng = np.random.default_rng(7)
    n = 1400
    splits = ["train"] * 1000 + ["val"] * 300 + ["test"] * 100
    flip = rng.choice(1300, 150, replace=False)
    data = _arrays(rng, splits, flip)
    true = data.labels.copy()
    true[flip] = (data.labels[flip] + 3) % 7
    votes = np.zeros((n, 10), np.int64)
    voted = np.r_[np.arange(700, n)]  # 600 voted train/val rows and the 100 test rows
    cols = np.array([4, 5, 6, 1, 3, 2, 0])  # class index -> FER+ vote column
    votes[voted, cols[true[voted]]] = 10
    data = replace(data, votes=votes)
    cfg = LabelsConfig(crowd_holdout=0.5)
    role = crowd_roles(data, np.arange(1300), cfg)
    is_judge = judges(data.source_ids, 0.5, cfg.seed)
    assert (role[:700] == "").all() and (role[1300:] == schema.JUDGE).all()  # test: judges
    assert (role[700:1300][is_judge[700:1300]] == schema.JUDGE).all()
    assert (role[700:1300][~is_judge[700:1300]] == schema.CALIBRATE).all()
    free = crowd_roles(data, np.arange(1300), LabelsConfig(crowd_calibration=False))
    assert (free[700:1300] == "").all() and (free[1300:] == schema.JUDGE).all()  # votes unused
    free_held = crowd_roles(data, np.arange(1300), LabelsConfig(crowd_calibration=False,
                                                                crowd_holdout=0.5))
    assert (free_held[700:1300] == np.where(is_judge[700:1300], schema.JUDGE, "")).all()

    s = score_rows(data, cfg)
    judge_ids = [i for i, r in zip(s.rows.ids, s.role, strict=True) if r == schema.JUDGE
                 and s.rows.splits[s.rows.ids.index(i)] != "test"]
    assert s.stats["crowd_calibrating_rows"] == int((role == schema.CALIBRATE).sum())
    assert s.stats["crowd_judging_rows"] == len(judge_ids)
    # the judges' votes calibrate nothing: other votes for them leave every checked row's
    # scores as they were, while other votes for calibrating rows move them
    at = s.rows.ids.index(judge_ids[0])
    checked = s.checked

    def moved(rows: list[int]) -> bool:
        other = votes.copy()
        for j in rows:
            other[j] = 0
            other[j, cols[(true[j] + 1) % 7]] = 10
        s2 = score_rows(replace(data, votes=other), cfg)
        return not np.allclose(s2.verdict.p_wrong[checked], s.verdict.p_wrong[checked])

    assert not moved([int(i[2:]) for i in judge_ids[:40]])
    assert moved([int(i) for i in np.flatnonzero(role == schema.CALIBRATE)[:40]])
    from curate.clean.label_scores import to_table

    col = to_table(s).columns[schema.CROWD_ROLE].values
    assert col[at] == schema.JUDGE and col[s.rows.ids.index("id0")] is None
