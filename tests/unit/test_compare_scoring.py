"""train/scoring.py on arrays: the crowd-majority labels (samples without one left out and
counted), the crowd agreement, the subset without train copies, and the shared samples."""

from __future__ import annotations

import numpy as np
import pytest

from curate.core.taxonomy import CLASS_INDEX, CLASS_VOTE_COLUMNS, CLASSES
from curate.core.votes import emotion_majority
from train.data import ImageSet
from train.scoring import Truth, build_truth, score_probs


def votes_for(**by_class: int) -> list[int]:
    row = [0] * 10
    for c, n in by_class.items():
        row[CLASS_VOTE_COLUMNS[CLASS_INDEX[c]]] = n
    return row


def onehot(classes: list[str]) -> np.ndarray:
    p = np.full((len(classes), len(CLASSES)), 0.01)
    for i, c in enumerate(classes):
        p[i, CLASS_INDEX[c]] = 0.94
    return p


def test_emotion_majority_is_strict_among_the_seven_emotions():
    rows = np.array([votes_for(happy=6, sad=4), votes_for(happy=5, sad=5),
                     votes_for(fear=3, surprise=2) [:9] + [5], [0] * 10])
    # 3 of 5 emotion votes is a strict majority although 5 not-a-face votes outnumber them
    assert emotion_majority(rows).tolist() == [CLASS_INDEX["happy"], -1, CLASS_INDEX["fear"], -1]


def test_scores_against_the_crowd_leave_out_and_count_samples_without_a_majority():
    labels = np.array([CLASS_INDEX[c] for c in ("sad", "happy", "angry", "fear")])
    votes = np.array([votes_for(happy=8, sad=2),     # the label is wrong to the crowd
                      votes_for(happy=10),
                      votes_for(angry=5, disgust=5),  # no strict majority: left out
                      [0] * 10])                      # no votes
    truth = Truth(split="test", keys=list("abcd"), labels=labels, votes=votes,
                  copied=np.array([False, True, False, False]), classes=CLASSES)
    got = score_probs(onehot(["happy", "happy", "angry", "fear"]), truth)
    assert got["original"]["all"]["accuracy"] == pytest.approx(0.75)
    maj = got["crowd_majority"]["all"]
    assert (maj["n"], maj["left_out"], maj["accuracy"]) == (2, 1, 1.0)
    agree = got["crowd_agreement"]["all"]
    assert agree["n"] == 3 and agree["agreement"] == pytest.approx((0.8 + 1.0 + 0.5) / 3)
    # without the sample that has a copy in train
    assert got["crowd_majority"]["without_train_copies"]["n"] == 1
    assert got["original"]["without_train_copies"]["n"] == 3
    no_votes = score_probs(onehot(["happy"] * 4), Truth(**{**truth.__dict__, "votes": None}))
    assert set(no_votes) == {"original"}


def test_truth_is_the_samples_every_variant_has_with_the_baselines_labels():
    img = np.arange(5 * 4, dtype=np.uint8).reshape(5, 1, 2, 2)
    raw = ImageSet(images=img, labels=np.array([0, 1, 2, 3, 3]),
                   splits=np.array(["train", "val", "val", "test", "val"]),
                   ids=["t0", "v1", "v2", "x3", "v4"])
    cur_img = img.copy()
    cur_img[0] = img[2]  # a train image identical to val sample v2: copied
    cur = ImageSet(images=cur_img[:4], labels=np.array([0, 5, 5, 3]),
                   splits=np.array(["train", "val", "val", "test"]), ids=["t0", "v1", "v2", "x3"])
    votes = np.array([votes_for(sad=3), votes_for(happy=3), votes_for(neutral=3)])
    t = build_truth({"raw": raw, "curated": cur}, "raw", "val", votes)
    assert t.keys == ["v1", "v2"]  # v4 is missing from curated (an excluded sample)
    assert t.labels.tolist() == [1, 2]  # raw's labels, not curated's relabelled ones
    assert t.copied.tolist() == [False, True]
    assert t.votes.tolist() == votes[:2].tolist() and t.voted == 2


def test_who_gave_the_judging_answers_follows_the_kept_samples():
    """`Truth.answers`: faces with emotion votes, every counted answer on them, per origin, and
    the named annotators (FER+'s per-face pseudo-annotators are not people to count)."""
    from train.scoring import answer_sources, answer_summary

    img = np.zeros((4, 1, 2, 2), dtype=np.uint8)
    raw = ImageSet(images=img, labels=np.array([0, 1, 2, 3]),
                   splits=np.array(["val"] * 4), ids=["a", "b", "c", "d"])
    cur = ImageSet(images=img[:3], labels=np.array([0, 1, 2]),
                   splits=np.array(["val"] * 3), ids=["a", "b", "c"])
    votes = np.array([votes_for(happy=2, sad=1), [0] * 9 + [2], votes_for(fear=1),
                      votes_for(angry=5)])
    at = [{"annotator": "ann", "via": "app", "at": None},
          {"annotator": "ann", "via": "labelstudio", "at": None}]  # the later counts
    sources = [(("ferplus:1", "ferplus"), ("ferplus:2", "ferplus"), ("bo", "import")),
               (("ferplus:1", "ferplus"), ("ferplus:2", "ferplus")),  # not-a-face only
               answer_sources(at), (("zed", "app"),) * 5]
    assert sources[2] == (("ann", "labelstudio"),)
    t = build_truth({"raw": raw, "curated": cur}, "raw", "val", votes, 0, sources)
    assert t.sources == sources[:3]  # d is missing from curated
    assert t.answers == {"faces": 2, "answers": 4, "via": {"ferplus": 2, "import": 1,
                                                           "labelstudio": 1}, "annotators": 2}
    # votes without a recorded origin (an export's manifest): counted, origin unknown
    assert answer_summary(votes) == {"faces": 3, "answers": 9, "via": {}, "annotators": 0}
    assert answer_summary(None)["faces"] == 0


def test_an_export_scores_against_the_votes_its_manifest_carries_without_a_dataset(
        tmp_path, monkeypatch):
    """The votes travel in manifest.csv (`ferplus_votes`): an export copied to a machine without
    the dataset (a GPU box) is scored against the crowd all the same."""
    import csv

    from train_fixtures import export_tree

    from curate.core import schema
    from curate.core.errors import InputError
    from train.data import from_folder
    from train.run import DataSource
    from train.scoring import crowd_votes

    root = export_tree(tmp_path / "exp", {"train": 2, "val": 2, "test": 1}, side=16)
    data = from_folder(root, 16, 1)
    val = data.split("val")
    want = {k: (votes_for(**{CLASSES[y]: 7, CLASSES[(y + 1) % 7]: 3}) if n % 3 else None)
            for n, (k, y) in enumerate(zip(val.ids, val.labels, strict=True))}

    def write(votes_of) -> None:  # noqa: ANN001
        with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["path", "label", "split", "source", "source_id", "ferplus_votes"])
            for k, y, sp in zip(data.ids, data.labels, data.splits, strict=True):
                w.writerow([k, CLASSES[y], sp, "fer2013", k, votes_of(k)])

    write(lambda k: schema.encode_votes(want.get(k)))
    src = DataSource(folder=root)
    got = crowd_votes(src, val, dataset="no_such_dataset").votes
    assert got.shape == (len(val), 10)
    for row, k in zip(got, val.ids, strict=True):
        assert row.tolist() == (want[k] or [0] * 10)
    truth = build_truth({"raw": data}, "raw", "val", got)
    assert truth.voted == sum(v is not None for v in want.values())
    # no test image has votes: None, from the manifest alone (the dataset is never opened)
    from curate.core import store

    def no_store(*a):  # noqa: ANN002, ANN202
        raise AssertionError("the dataset was opened")

    monkeypatch.setattr(store, "load_dataset", no_store)
    assert crowd_votes(src, data.split("test"), dataset="no_such_dataset").votes is None

    # votes that calibrated the label audit (crowd_role = calibrate) never score: left out, counted
    calibrating = {k for k in val.ids[::2] if want[k] is not None}
    with open(root / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "split", "source", "source_id", "ferplus_votes", "crowd_role"])
        for k, y, sp in zip(data.ids, data.labels, data.splits, strict=True):
            role = "" if want.get(k) is None else ("calibrate" if k in calibrating else "judge")
            w.writerow([k, CLASSES[y], sp, "fer2013", k, schema.encode_votes(want.get(k)), role])
    got = crowd_votes(src, val, dataset="no_such_dataset")
    assert got.calibrating == len(calibrating) > 0
    for row, k in zip(got.votes, val.ids, strict=True):
        assert row.tolist() == ([0] * 10 if k in calibrating else (want[k] or [0] * 10))
    truth = build_truth({"raw": data}, "raw", "val", got.votes, got.calibrating)
    assert truth.voted == sum(v is not None for v in want.values()) - len(calibrating)
    assert truth.calibrating == len(calibrating)

    write(lambda k: "1;2;3")  # a malformed cell is an error naming the file and the image
    with pytest.raises(InputError, match=r"manifest.csv: ferplus_votes of val/"):
        crowd_votes(src, val, dataset="no_such_dataset")
    assert schema.decode_votes("", "x") is None
    assert schema.encode_votes(None) == ""
