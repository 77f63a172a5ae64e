"""`train` through the CLI on tiny exports and a small real-DB dataset; `curate.clean.labels`."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from train_fixtures import class_image, export_tree
from typer.testing import CliRunner

from curate.clean.config import LabelsConfig
from curate.clean.labels import NEAR_DUPLICATE_TAG, OUTLIER_TAG, TAG
from curate.clean.labels import run as check_labels
from curate.core import schema, store
from curate.core.imageio import write_png_atomic
from curate.core.store import SampleRecord
from curate.core.taxonomy import CLASS_VOTE_COLUMNS, CLASSES
from curate.core.workspace import Workspace
from train.cli import app
from train.report import SECTIONS

runner = CliRunner()
TINY = ["--backbone", "test_efficientnet_gn", "--img-size", "32", "--batch-size", "16",
        "--device", "cpu"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def cli(ws: Path, *args: str, dataset: str = "fer"):
    return runner.invoke(app, ["--dataset", dataset, "--workspace", str(ws), "--no-progress",
                               *args])


def test_run_on_an_export_then_reuse_and_bad_inputs(tmp_path):
    exp = export_tree(tmp_path / "exp", {"train": 12, "val": 3, "test": 3}, side=32)
    ws = tmp_path / "ws"
    r = cli(ws, "run", "--data", str(exp), "--epochs", "2", *TINY, "--out", str(tmp_path / "r"))
    assert r.exit_code == 0, r.output
    assert "macro-F1" in r.output and "img/s" in r.output
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert m["test"]["n"] == 21 and len(m["history"]) == 2
    assert (tmp_path / "r" / "best.safetensors").is_file()
    before = (tmp_path / "r" / "metrics.json").stat().st_mtime_ns
    r = cli(ws, "run", "--data", str(exp), "--epochs", "2", *TINY, "--out", str(tmp_path / "r"))
    assert r.exit_code == 0 and (tmp_path / "r" / "metrics.json").stat().st_mtime_ns == before
    # other training data, same test split and settings: trained again, not reused
    sorted((exp / "train" / "happy").iterdir())[0].unlink()
    r = cli(ws, "run", "--data", str(exp), "--epochs", "2", *TINY, "--out", str(tmp_path / "r"))
    assert r.exit_code == 0 and (tmp_path / "r" / "metrics.json").stat().st_mtime_ns != before
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["counts"]["train"]["happy"] \
        == 11

    r = cli(ws, "run", "--data", str(exp), "--backbone", "resnet18x")
    assert r.exit_code == 2 and "did you mean" in r.output
    shutil.rmtree(exp / "test" / "fear")
    r = cli(ws, "run", "--data", str(exp), *TINY)
    assert r.exit_code == 2 and "fear missing from split 'test'" in r.output


def test_compare_two_exports_renders_every_section_and_refuses_other_tests(tmp_path):
    raw = export_tree(tmp_path / "raw", {"train": 8, "val": 2, "test": 2}, side=32)
    leaked = sorted((raw / "test" / "angry").iterdir())[0]  # a train copy of a test image
    shutil.copy(leaked, raw / "train" / "angry" / "copy_of_a_test_image.png")
    cur = tmp_path / "cur"
    shutil.copytree(raw, cur)
    for f in sorted((cur / "train" / "happy").iterdir())[:3]:
        f.unlink()
    out = tmp_path / "cmp"
    r = cli(tmp_path / "ws", "compare", "--variants", f"raw={raw},curated={cur}",
            "--backbones", "test_efficientnet_gn", "--seeds", "2", "--epochs", "1",
            "--img-size", "32", "--batch-size", "16", "--device", "cpu", "--out", str(out))
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    for section in SECTIONS:
        assert f"## {section}" in md
    assert md.count("| test_efficientnet_gn | ") >= 6
    assert "1 test images are pixel-identical to an image of a split the models learnt" in md
    assert "No sample carries crowd votes" in md  # exports made without a dataset of votes
    results = json.loads((out / "results.json").read_text())["results"]
    assert all(r["scores"]["test"]["original"]["without_train_copies"]["n"] == r["test"]["n"] - 1
               for r in results)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert len(list((out / "runs").iterdir())) == 4
    # a finished run without saved test predictions (older versions) gets them on reuse
    probs = sorted((out / "runs").glob("*/test_probs.npz"))
    assert len(probs) == 4
    before = np.load(probs[0])["probs"]
    probs[0].unlink()
    r = cli(tmp_path / "ws", "compare", "--variants", f"raw={raw},curated={cur}",
            "--backbones", "test_efficientnet_gn", "--seeds", "2", "--epochs", "1",
            "--img-size", "32", "--batch-size", "16", "--device", "cpu", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert np.allclose(np.load(probs[0])["probs"], before, atol=1e-5)
    assert "1 test images are pixel-identical" in (out / "report.md").read_text()
    report_time = (out / "report.md").stat().st_mtime_ns
    r = cli(tmp_path / "ws", "compare", "--variants", f"raw={raw},curated={cur}",
            "--backbones", "test_efficientnet_gn", "--seeds", "2", "--epochs", "1",
            "--img-size", "32", "--batch-size", "16", "--device", "cpu", "--out", str(out))
    assert r.exit_code == 0 and (out / "report.md").stat().st_mtime_ns == report_time  # no-op

    (cur / "test" / "sad" / sorted(p.name for p in (cur / "test" / "sad").iterdir())[0]).unlink()
    r = cli(tmp_path / "ws", "compare", "--variants", f"raw={raw},curated={cur}",
            "--backbones", "test_efficientnet_gn", "--seeds", "1", "--epochs", "1",
            "--img-size", "32", "--device", "cpu", "--out", str(out))
    assert r.exit_code == 2 and "test sets differ" in r.output


def _make_dataset(name: str, media: Path, per_class: dict[str, int], flips: int, seed: int = 0):
    """A DB dataset of stripe images; `flips` train labels changed. Returns (ds, flipped ids)."""
    rng = np.random.default_rng(seed)
    records, k = [], 0
    for split, n in per_class.items():
        for y, c in enumerate(CLASSES):
            for _ in range(n):
                path = media / f"{k:05d}.png"
                size = write_png_atomic(class_image(y, rng, 32), path)
                records.append(SampleRecord(str(path), "folder", f"{split}/{c}/{k}.png", split,
                                            c, c, 32, 32, 1, size))
                k += 1
    ds = store.load_dataset(name, create=True)
    store.add_records(ds, records)
    train = ds.match({schema.SPLIT: "train"})
    ids = train.values("id")
    flipped = list(rng.choice(ids, flips, replace=False))
    labels = dict(zip(ids, train.values(schema.LABEL_PATH), strict=False))
    f = store.fo()
    ds.set_values(schema.LABEL, {i: f.Classification(
        label=CLASSES[(CLASSES.index(labels[i]) + 3) % 7]) for i in flipped}, key_field="id")
    return ds, set(flipped)


def test_label_issues_on_a_real_db_with_planted_flips(tmp_path, dataset_name):
    ds, flipped = _make_dataset(dataset_name, tmp_path / "media",
                                {"train": 24, "val": 6, "test": 4}, flips=17)
    ws = Workspace(tmp_path / "ws")
    train_ids, train_paths = ds.match({schema.SPLIT: "train"}).values(["id", schema.FILEPATH])
    test_ids, test_paths = ds.match({schema.SPLIT: "test"}).values(["id", schema.FILEPATH])
    shutil.copyfile(train_paths[0], train_paths[1])   # a face seen twice in train
    shutil.copyfile(train_paths[2], test_paths[0])    # and one leaked into test
    cfg = LabelsConfig(folds=3, epochs=3, backbone="test_efficientnet_gn", img_size=32,
                       batch_size=16, shift=1)
    s = check_labels(ds, ds.view(), cfg, workspace=ws).summary()
    assert s["checked"] == 7 * 30 and s["folds"] == 3 and not s["oof_reused"]
    assert s["oof_accuracy"] > 0.7 and s["test_audited"] == 28
    tagged = set(ds.match_tags(TAG).values("id"))
    assert len(tagged & flipped) / len(flipped) >= 0.7
    assert len(tagged - flipped) <= 6
    assert not set(ds.match({schema.SPLIT: "test"}).match_tags(TAG).values("id"))
    assert sum(s["flagged_per_class"].values()) == len(tagged)
    from curate.core.issues import ensure_saved_views

    ensure_saved_views(ds)                               # as `curate clean` does after its checks
    queue = ds.load_saved_view(TAG)                      # the review queue: likeliest first
    assert queue.values(schema.LABEL_ERROR_PROB) == sorted(
        queue.values(schema.LABEL_ERROR_PROB), reverse=True) and len(queue) == len(tagged)
    assert "estimated precision" in ds.get_saved_view_info(TAG)["description"]
    q = dict(zip(ds.values("id"), ds.values(schema.LABEL_QUALITY), strict=False))
    clean = [q[i] for i in ds.match({schema.SPLIT: "train"}).values("id") if i not in flipped]
    assert np.mean([q[i] for i in flipped]) < np.mean(clean) - 0.3
    sample = ds[next(iter(flipped))]
    assert sample.suggested_label.label in CLASSES and 0 < sample.suggested_label.confidence <= 1
    rows = list(csv.DictReader(open(ws.reports / "label_issues.csv")))
    assert len(rows) == len(ds) and set(rows[0]) == {
        "source_id", "split", "given_label", "label_quality", "label_error_prob",
        "suggested_label", "suggested_prob", "is_issue", "outlier_score", "is_outlier",
        "near_duplicate_score", "is_near_duplicate", "near_duplicate_set", "crowd_label",
        "crowd_agreement"}
    assert all(r["crowd_label"] == "" for r in rows)       # no FER+ votes here
    assert s["outliers"] == len(ds.match_tags(OUTLIER_TAG)) == sum(s["outliers_per_class"].values())
    assert not ds.match({schema.SPLIT: "test"}).match_tags([OUTLIER_TAG, NEAR_DUPLICATE_TAG])
    assert len(ds.exists(schema.OUTLIER_SCORE)) == len(ds.exists(schema.NEAR_DUPLICATE_SCORE)) == len(ds)
    near = dict(zip(*ds.values(["id", schema.NEAR_DUPLICATE_SET]), strict=True))
    assert near[train_ids[0]] == near[train_ids[1]] is not None
    assert near[train_ids[2]] == near[test_ids[0]] is not None != near[train_ids[0]]
    tagged_near = set(ds.match_tags(NEAR_DUPLICATE_TAG).values("id"))
    assert {train_ids[0], train_ids[1], train_ids[2]} <= tagged_near
    assert s["near_duplicates"] == len(tagged_near) <= 8 and s["near_duplicate_cross_split_sets"] >= 1
    assert (ws.runs / "reference" / "reference.json").is_file()

    again = check_labels(ds, ds.view(), cfg, workspace=ws).summary()  # same data + settings: a no-op
    assert again["reused"] and again["flagged"] == s["flagged"]
    (features,) = (ws.runs / "oof").glob("*/features.npz")
    features.unlink()                         # probabilities from before features were kept:
    other = check_labels(ds, ds.view(), replace(cfg, filter_by="both"), workspace=ws).summary()
    assert other["oof_reused"] and features.is_file()  # re-embedded with the reference models
    assert other["near_duplicate_sets"] == s["near_duplicate_sets"]

    third = check_labels(ds, ds.view(), replace(cfg, epochs=1), workspace=ws).summary()
    assert not third["oof_reused"]                       # other settings: recomputed
    from curate.core import runs

    assert not {"labels", "oof"} & set(runs.history(ds))  # recorded once, by `curate clean`


def test_train_on_a_view_and_eval_writes_predictions_back(tmp_path, dataset_name):
    ds, _ = _make_dataset(dataset_name, tmp_path / "media", {"train": 10, "val": 3, "test": 3}, 0)
    ws = tmp_path / "ws"
    r = cli(ws, "run", "--view", "curated", "--epochs", "1", *TINY, "--out",
            str(tmp_path / "run1"), dataset=dataset_name)
    assert r.exit_code == 0, r.output
    r = cli(ws, "eval", "--run", str(tmp_path / "run1"), "--split", "test", "--device", "cpu",
            dataset=dataset_name)
    assert r.exit_code == 0, r.output
    assert "pred_run1" in r.output and "eval_run1" in r.output
    ds.reload()
    assert "eval_run1" in ds.list_evaluations()
    assert len(ds.exists("pred_run1")) == 21
    r = cli(ws, "eval", "--run", str(tmp_path / "nothing"), dataset=dataset_name)
    assert r.exit_code == 2 and "no config.json" in r.output


def test_soft_labels_reach_the_curated_variant_and_its_fingerprint(tmp_path, dataset_name):
    from curate.apply import ApplyConfig, apply_reviews
    from train.compare import CompareSettings, inputs_fingerprint
    from train.run import DataSource, load_source

    ds, _ = _make_dataset(dataset_name, tmp_path / "media", {"train": 3, "val": 1, "test": 1}, 0)
    cfg = CompareSettings(views="raw,curated", dataset=dataset_name, epochs=1).build()
    before = inputs_fingerprint(cfg)
    ds.set_values(schema.OOF, [[1 / 7] * 7] * len(ds))
    apply_reviews(ApplyConfig(dataset=dataset_name, soften=0.3))
    assert inputs_fingerprint(cfg) != before            # new targets: the comparison re-runs
    raw = load_source(DataSource(view="raw", dataset=dataset_name), 32, 1)
    cur = load_source(DataSource(view="curated", dataset=dataset_name), 32, 1)
    assert raw.soft is None and cur.soft is not None
    train = cur.split("train")
    np.testing.assert_allclose(train.soft.max(1), 0.7 + 0.3 / 7, rtol=1e-5)


def test_crowd_votes_say_who_gave_them(tmp_path, dataset_name):
    """The judging votes' origin comes from the answers store: per `via`, the named annotators;
    a calibrating face's answers are left out with its votes."""
    from curate.votes.answers import answer_key, make_answer
    from curate.votes.db import add
    from train.run import DataSource, load_source
    from train.scoring import build_truth, crowd_votes

    ds, _ = _make_dataset(dataset_name, tmp_path / "media", {"train": 1, "val": 1, "test": 1}, 0)
    val = ds.match({schema.SPLIT: "val"})
    ids, labels = val.values(["id", schema.LABEL_PATH])

    def ans(who: str, label: str, via: str, i: str):
        return make_answer(annotator=who, label=label, via=via, key=answer_key(via, who, i))

    add(ds, {i: [ans("ferplus:1", y, "ferplus", i), ans("ferplus:2", y, "ferplus", i),
                 ans("ana" if k % 2 else "bo", y, "app", i)]
             for k, (i, y) in enumerate(zip(ids, labels, strict=True))})
    ds.set_values(schema.CROWD_ROLE, {ids[0]: schema.CALIBRATE}, key_field="id")
    src = DataSource(view="raw", dataset=dataset_name)
    data = load_source(src, 32, 1)
    got = crowd_votes(src, data.split("val"), dataset_name)
    assert got.calibrating == 1
    truth = build_truth({"raw": data}, "raw", "val", got.votes, got.calibrating, got.sources)
    assert truth.answers == {"faces": 6, "answers": 18, "via": {"app": 6, "ferplus": 12},
                             "annotators": 2}


def test_compare_scores_the_crowd_on_val_and_an_external_test_without_retraining(
        tmp_path, dataset_name):
    from fixtures import rafdb_official

    ds, _ = _make_dataset(dataset_name, tmp_path / "media", {"train": 6, "val": 3, "test": 2}, 0)
    ids, labels = ds.match({schema.SPLIT: {"$in": ["val", "test"]}}).values(
        ["id", schema.LABEL_PATH])
    votes, kinds = {}, {"agree": 0, "split": 0, "none": 0}
    for k, (i, label) in enumerate(zip(ids, labels, strict=True)):
        row = [0] * 10
        col = CLASS_VOTE_COLUMNS[CLASSES.index(label)]
        if k % 5 == 3:                       # 5 / 5 between two emotions: no strict majority
            row[col], row[(col + 1) % 7] = 5, 5
            kinds["split"] += 1
        elif k % 5 == 4:                     # no votes at all
            kinds["none"] += 1
            continue
        else:
            row[col], row[(col + 2) % 7] = 7, 3
            kinds["agree"] += 1
        votes[i] = row
    ds.set_values(schema.FERPLUS_VOTES, votes, key_field="id")
    ws, out = tmp_path / "ws", tmp_path / "cmp"
    args = ["compare", "--views", "raw,curated,raw+scn", "--backbones", "test_efficientnet_gn",
            "--seeds", "1", "--epochs", "1", "--img-size", "32", "--batch-size", "16",
            "--device", "cpu", "--out", str(out)]
    r = cli(ws, *args, "--score-split", "test", dataset=dataset_name)
    assert r.exit_code == 0, r.output
    results = json.loads((out / "results.json").read_text())
    truth = results["summary"]["splits"][0]["truth"]
    test_kinds = {"agree": 0, "split": 0, "none": 0}  # the test rows are the last 14 of `ids`
    for k in range(len(ids) - 14, len(ids)):
        test_kinds[["agree", "agree", "agree", "split", "none"][k % 5]] += 1
    answers = truth.pop("answers", None)  # who gave the judging votes (the report's opening)
    assert truth == {"split": "test", "n": 14, "voted": 14 - test_kinds["none"],
                     "majority": test_kinds["agree"], "left_out": test_kinds["split"],
                     "with_train_copy": 0, "calibrating": 0}
    assert answers in (None, {"faces": truth["voted"], "answers": 10 * truth["voted"],
                              "via": {}, "annotators": 0})  # votes set without the store
    for run in results["results"]:
        maj = run["scores"]["test"]["crowd_majority"]["all"]
        assert maj["n"] == test_kinds["agree"] and maj["left_out"] == test_kinds["split"]
        assert 0 <= run["scores"]["test"]["crowd_agreement"]["all"]["agreement"] <= 1
    md = (out / "report.md").read_text()
    assert "crowd majority accuracy %" in md and "(best robust)" in md
    # the report opens with what the judging answers say
    first = md.split("\n## ")[1]
    assert first.startswith("What people's answers say") and "## Summary" in md
    assert f"**{truth['voted']} faces' answers judge**, on the test split" in first
    assert "**curated − raw** (test_efficientnet_gn): crowd agreement" in first
    assert "**curated vs raw**" in md and "**curated vs raw+scn**" in md

    # test and val: val is a dev figure, from the runs' saved val predictions (no retraining);
    # the val rows whose votes calibrated the label audit never score (left out, counted)
    val_voted = [i for i in ds.match({schema.SPLIT: "val"}).values("id") if i in votes]
    calibrating = val_voted[:4]
    ds.set_values(schema.CROWD_ROLE, dict.fromkeys(calibrating, "calibrate"), key_field="id")
    metrics = sorted((out / "runs").glob("*/metrics.json"))
    stamps = [m.stat().st_mtime_ns for m in metrics]
    args += ["--score-split", "test", "--score-split", "val"]
    r = cli(ws, *args, dataset=dataset_name)
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    assert "Scored on the **val** split" in md and "A dev figure, not the test claim" in md
    assert "### val (dev figure)" in md and "Scored on the **test** split" in md
    means = md.split("## Mean ± std over seeds")[1].split("## Without train copies")[0]
    test_table, val_table = means.split("### val (dev figure)")
    assert "ECE %" in test_table and "ECE" not in val_table   # ECE is of the test predictions
    assert [m.stat().st_mtime_ns for m in metrics] == stamps
    blocks = json.loads((out / "results.json").read_text())["summary"]["splits"]
    assert [b["truth"]["split"] for b in blocks] == ["test", "val"]
    val = blocks[1]["truth"]
    assert val["split"] == "val" and val["n"] == 21
    assert val["calibrating"] == 4 and val["voted"] == len(val_voted) - 4
    assert "4 more samples' votes calibrated the label audit" in md

    # a second dataset's test split, scored by the finished runs
    ext = f"{dataset_name}_rafdb"
    root = rafdb_official(tmp_path / "rafdb", n_train=2, n_test=7)
    try:
        r = cli(ws, *args, "--external-test", f"{ext}:{root}", dataset=dataset_name)
        assert r.exit_code == 0, r.output
        assert [m.stat().st_mtime_ns for m in metrics] == stamps  # no run retrained
        assert store.load_dataset(ext).count() == 9  # ingested into its own dataset
        assert (ws.parent / ext / "reports").is_dir()  # its workspace beside the compared one's
        done = json.loads((out / "results.json").read_text())["results"]
        assert all(run["external"][ext]["n"] == 7 for run in done)
        assert f"{ext} accuracy %" in (out / "report.md").read_text()
        assert len(list((out / "runs").glob(f"*/external-{ext}.npz"))) == 3
        r = cli(ws, *args, "--external-test", f"bad:{tmp_path / 'nothing'}", dataset=dataset_name)
        assert r.exit_code == 2 and "is not a folder" in r.output
    finally:
        if store.fo().dataset_exists(ext):
            store.fo().delete_dataset(ext)
