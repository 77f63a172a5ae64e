"""`curate clean` and `curate apply` through the CLI on a small real-DB dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures import fer_rows, write_fer_csv
from typer.testing import CliRunner

from curate.apply import soft_target
from curate.cli import app
from curate.core import runs, schema, store
from curate.core.taxonomy import CLASSES

runner = CliRunner()


def cli(name: str, ws: Path, *args: str):
    return runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args])


def _planted_csv(path: Path) -> Path:
    rows = fer_rows(24)
    rows.append((0, rows[0][1], "PrivateTest"))   # 24: exact copy of train row 0 in test (leak)
    rows.append((3, rows[3][1], "Training"))      # 25: exact copy of train row 3, same label
    rows.append((5, rows[6][1], "Training"))      # 26: exact copy of train row 6, other label
    rows.append((2, " ".join(["0"] * 2304), "Training"))  # 27: blank
    return write_fer_csv(path, rows)


def _by_source_id(ds, field: str) -> dict[str, object]:
    return dict(zip(ds.values("source_id"), ds.values(field)))


@pytest.fixture
def cleaned(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    r = cli(dataset_name, ws, "ingest", "fer2013", str(_planted_csv(tmp_path / "f.csv")))
    assert r.exit_code == 0, r.output
    (ws / "media" / "fer2013" / "000010.png").unlink()  # a missing image file
    r = cli(dataset_name, ws, "clean", "--checks", "duplicates,quality")
    assert r.exit_code == 0, r.output
    return dataset_name, ws, r.output


def test_clean_tags_fields_report_and_noop_rerun(cleaned):
    name, ws, out = cleaned
    ds = store.load_dataset(name)
    tags = _by_source_id(ds, "tags")
    exact = _by_source_id(ds, "exact_group")
    assert exact["0"] == exact["24"] is not None and exact["3"] == exact["25"] is not None
    assert exact["6"] == exact["26"] is not None and exact["1"] is None
    for sid in ("0", "24", "3", "25", "6", "26"):
        assert "issue:duplicate" in tags[sid]
    assert "issue:leak" in tags["0"] and "issue:leak" in tags["24"]
    assert "issue:leak" not in tags["3"] and "issue:conflict" in tags["26"]
    assert "issue:lowinfo" in tags["27"] and "issue:duplicate" not in tags["1"]
    phash = _by_source_id(ds, "phash")
    assert phash["0"] == phash["24"] and len(phash["1"]) == 16 and phash["10"] is None
    faces = _by_source_id(ds, "face_score")
    assert faces["27"] == 0.0 and faces["10"] is None and 0 <= faces["1"] <= 1
    assert _by_source_id(ds, "quality_reasons")["27"][0].startswith("lowinfo")
    assert "issue:duplicate" in ds.list_saved_views()
    rep = json.loads((ws / "reports" / "clean.json").read_text())
    assert rep["missing_count"] == 1 and rep["ran"]["duplicates"]["exact_groups"] == 3
    assert rep["ran"]["duplicates"]["exact_cross_split_groups"] == 1
    assert rep["ran"]["duplicates"]["exact_conflict_groups"] == 1
    assert (ws / "reports" / "clean.md").is_file()
    assert (ws / "reports" / "clean-class-histogram.png").stat().st_size > 1000
    assert "exact_groups 3" in out and "unreadable 1" in out

    r = cli(name, ws, "clean", "--checks", "duplicates,quality")
    assert r.exit_code == 0 and "nothing to do" in r.output
    r = cli(name, ws, "clean", "--checks", "duplicates", "--radius", "2")
    assert r.exit_code == 0 and "duplicates:" in r.output and "nothing to do" not in r.output
    assert runs.last(store.load_dataset(name), runs.check_stage("duplicates")).config["radius"] == 2


def test_thresholds_are_options_recorded_with_the_run(cleaned):
    name, ws, _ = cleaned
    before = store.load_dataset(name).count_sample_tags()
    r = cli(name, ws, "clean", "--checks", "quality", "--lowinfo-threshold", "0.0",
            "--dark-threshold", "0.99")
    assert r.exit_code == 0 and "nothing to do" not in r.output, r.output
    ds = store.load_dataset(name)
    run = runs.last(ds, runs.check_stage("quality"))
    assert run.config["dark_threshold"] == 0.99 and run.config["lowinfo_threshold"] == 0.0
    after = ds.count_sample_tags()
    assert after["issue:lowinfo"] == len(ds) - 1 > before["issue:lowinfo"]  # all readable ones
    assert after.get("issue:dark", 0) <= before.get("issue:dark", 0)
    md = (ws / "reports" / "clean.md").read_text()
    assert "Settings: " in md and "dark threshold 0.99" in md and "{" not in md
    r = cli(name, ws, "clean", "--checks", "quality", "--dark-threshold", "1.5")
    assert r.exit_code == 2 and "dark-threshold" in r.output
    r = cli(name, ws, "clean", "--checks", "labels", "--filter-by", "magic")
    assert r.exit_code == 2


def test_apply_review_tags_and_auto_policy(cleaned):
    name, ws, _ = cleaned
    ds = store.load_dataset(name)
    ds.match({"source_id": "1"}).tag_samples("review:relabel:bogus")
    r = cli(name, ws, "apply")
    assert r.exit_code == 2 and "'review:relabel:bogus' (1 samples)" in r.output
    ds.match({"source_id": "1"}).untag_samples("review:relabel:bogus")
    ds.match({"source_id": "1"}).tag_samples("review:relabel:sad")
    ds.match({"source_id": "4"}).tag_samples("review:drop")
    ds.match({"source_id": "3"}).tag_samples("review:keep")   # reviewed: auto leaves it alone
    ds.match({"source_id": "2"}).tag_samples("review:drop")   # test split: left alone
    r = cli(name, ws, "apply", "--auto")
    assert r.exit_code == 0, r.output
    assert "left alone" in r.output
    ds = store.load_dataset(name)
    ex = _by_source_id(ds, "excluded")
    why = _by_source_id(ds, "exclusion_reason")
    assert ex["4"] and why["4"] == "review:drop"
    assert ex["0"] and not ex["24"] and "test" in why["0"]       # leak: test copy kept
    assert ex["6"] and ex["26"] and "conflicting" in why["26"]
    assert not ex["25"] and not ex["3"]                           # repeats within train stay
    assert not ex["2"] and not ex["1"]
    labels = _by_source_id(ds, "ground_truth.label")
    assert labels["1"] == "sad" and _by_source_id(ds, "orig_label")["1"] == "1"
    # an exclusion an earlier auto policy made that the current one would not: undone on --auto
    stale = ds.match({"source_id": "5"})
    stale.set_values("excluded", [True])
    stale.set_values("exclusion_reason", ["auto: exact duplicate of a val sample"])
    assert cli(name, ws, "apply").exit_code == 0          # without --auto: left as it is
    assert _by_source_id(store.load_dataset(name), "excluded")["5"]
    r = cli(name, ws, "apply", "--auto")
    assert r.exit_code == 0 and "included" in r.output, r.output
    ex = _by_source_id(store.load_dataset(name), "excluded")
    assert not ex["5"] and ex["4"] and ex["0"]
    r = cli(name, ws, "apply", "--auto")
    assert r.exit_code == 0 and "nothing to change" in r.output
    hist = ds.info["runs"]["apply"]
    assert hist[-1]["noop"] and hist[-1]["config"]["user"] and "finished_at" in hist[-1]
    # --auto relabels one copy of a same-label pair (25 = 3, happy): the pair is still judged
    # on the labels the duplicate check saw, so the next --auto changes nothing
    post = [0.05] * 7
    post[CLASSES.index("sad")] = 0.7
    ds.match({"source_id": "25"}).set_values(schema.LABEL_POSTERIOR, [post])
    r = cli(name, ws, "apply", "--auto")
    assert r.exit_code == 0 and "relabelled" in r.output, r.output
    ds = store.load_dataset(name)
    assert _by_source_id(ds, "ground_truth.label")["25"] == "sad"
    r = cli(name, ws, "apply", "--auto")
    assert r.exit_code == 0 and "nothing to change" in r.output, r.output
    assert not _by_source_id(store.load_dataset(name), "excluded")["25"]


def test_apply_soften_writes_soft_labels_for_train_and_val_only(cleaned):
    from curate.core.views import curated_view, raw_view
    from train.data import from_view

    name, ws, _ = cleaned
    r = cli(name, ws, "apply", "--soften", "0.3")
    assert r.exit_code == 3 and "clean --checks labels" in r.output    # no out-of-fold probs yet
    r = cli(name, ws, "apply", "--soften", "1.5")
    assert r.exit_code == 2
    ds = store.load_dataset(name)
    probs = [0.1, 0.0, 0.1, 0.5, 0.1, 0.1, 0.1]
    ds.set_values("oof", [probs] * len(ds))                  # what `clean --checks labels` writes
    ds.match({"source_id": "1"}).tag_samples("review:relabel:sad")
    r = cli(name, ws, "apply", "--soften", "0.3")
    assert r.exit_code == 0 and "soft_labels" in r.output, r.output
    ds = store.load_dataset(name)
    soft, split = _by_source_id(ds, "soft_label"), _by_source_id(ds, "split")
    assert soft["1"] == pytest.approx(soft_target("sad", probs, 0.3))  # the corrected label's
    assert all(soft[k] is None for k, s in split.items() if s == "test")
    assert sum(v is not None for v in soft.values()) == sum(s != "test" for s in split.values())
    r = cli(name, ws, "apply")                               # the weight is kept: nothing to do
    assert r.exit_code == 0 and "nothing to change" in r.output, r.output
    assert ds.info["runs"]["apply"][-1]["config"]["soften"] == 0.3
    assert "soft_label" not in raw_view(ds).view.get_field_schema()
    readable = curated_view(ds).view.match({"source_id": {"$ne": "10"}})  # its file is gone
    cur = from_view(readable, "ground_truth", 24, 1, soft=True)
    train = cur.split("train")
    assert train.soft is not None and (train.soft.argmax(1) == train.labels).all()
    assert from_view(readable, "ground_truth", 24, 1).soft is None
    assert "warning" not in r.output
    runs.record(ds, runs.check_stage("labels"), config={}, fp="weak",
                counts={"oof_accuracy": 0.52}, seconds=1.0)
    r = cli(name, ws, "apply", "--soften", "0.4")            # a weak teacher: said, not refused
    assert r.exit_code == 0 and "warning" in r.output and "52.0%" in r.output, r.output
    r = cli(name, ws, "apply", "--soften", "0")
    assert r.exit_code == 0 and "soft_labels" in r.output and "warning" not in r.output
    assert all(v is None for v in _by_source_id(store.load_dataset(name), "soft_label").values())


def test_bad_input(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    r = cli(dataset_name, ws, "clean", "--checks", "duplicates")
    assert r.exit_code == 3 and "does not exist" in r.output
    r = cli(dataset_name, ws, "clean", "--checks", "duplicates,typo")
    assert r.exit_code == 2 and "unknown check 'typo'" in r.output
    store.load_dataset(dataset_name, create=True)
    r = cli(dataset_name, ws, "clean", "--checks", "quality")
    assert r.exit_code == 3 and "is empty" in r.output


def test_labels_check_import_failure_is_an_error(tmp_path, dataset_name, monkeypatch):
    import sys

    ws = tmp_path / "ws"
    assert cli(dataset_name, ws, "ingest", "fer2013",
               str(write_fer_csv(tmp_path / "f.csv", fer_rows(6)))).exit_code == 0
    monkeypatch.setitem(sys.modules, "curate.clean.labels", None)  # import raises ImportError
    r = cli(dataset_name, ws, "clean", "--checks", "labels")
    assert r.exit_code == 1 and "curate.clean.labels" in r.output


def test_labels_schedule_options_are_validated(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    assert cli(dataset_name, ws, "ingest", "fer2013",
               str(write_fer_csv(tmp_path / "f.csv", fer_rows(6)))).exit_code == 0
    r = cli(dataset_name, ws, "clean", "--checks", "labels", "--folds", "1")
    assert r.exit_code == 2 and "at least 2 folds" in r.output, r.output
    r = cli(dataset_name, ws, "clean", "--checks", "labels", "--fast", "--epochs", "0")
    assert r.exit_code == 2 and "epochs" in r.output, r.output


def _crowd_votes(i: int) -> list[int]:
    """FER+ counts for FER row i (class i % 7): rows 3k agree with the label (8 votes), rows
    3k+1 have a crowd majority for the next class (7 votes), rows 3k+2 split 5/5."""
    from curate.core.taxonomy import CLASS_VOTE_COLUMNS

    own, other = CLASS_VOTE_COLUMNS[i % 7], CLASS_VOTE_COLUMNS[(i + 1) % 7]
    votes = [0] * 10
    if i % 3 == 0:
        votes[own], votes[other] = 8, 2
    elif i % 3 == 1:
        votes[own], votes[other] = 3, 7
    else:
        votes[own], votes[other] = 5, 5
    return votes


def test_crowd_audit_and_crowd_label_policies(tmp_path, dataset_name):
    from fixtures import write_ferplus_csv

    from curate.core import schema
    from curate.core.taxonomy import CLASS_VOTE_COLUMNS, CLASSES
    from curate.core.views import raw_view

    ws = tmp_path / "ws"
    n = 84
    assert cli(dataset_name, ws, "ingest", "fer2013",
               str(write_fer_csv(tmp_path / "f.csv", fer_rows(n)))).exit_code == 0
    unvoted = tuple(range(60, n))  # a partial file: the last rows have no votes
    plus = write_ferplus_csv(tmp_path / "fer2013new.csv", n, empty_rows=unvoted,
                             votes_of=_crowd_votes)
    r = cli(dataset_name, ws, "ingest", "ferplus", str(plus))
    assert r.exit_code == 0 and "updated 60" in r.output and "skipped 0" in r.output, r.output
    assert cli(dataset_name, ws, "clean", "--checks", "duplicates").exit_code == 0
    r = cli(dataset_name, ws, "clean", "--checks", "labels", "--fast", "--folds", "2",
            "--epochs", "1", "--device", "cpu", "--crowd-holdout", "0.3")
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(dataset_name)
    crowd = _by_source_id(ds, f"{schema.CROWD_LABEL}.label")
    agreement = _by_source_id(ds, schema.CROWD_AGREEMENT)
    for i in range(60):                         # the consensus of clear majorities is theirs
        if i % 3 == 0:
            assert crowd[str(i)] == CLASSES[i % 7] and agreement[str(i)] == pytest.approx(0.8)
        elif i % 3 == 1:
            assert crowd[str(i)] == CLASSES[(i + 1) % 7], i
    assert all(crowd[str(i)] is None for i in unvoted)
    # roles: test rows and the held-out 30% judge; the rest calibrate (calibration.MIN_ANSWERS+)
    from curate.clean.crowd import judges

    role = _by_source_id(ds, schema.CROWD_ROLE)
    split_of = dict(zip(ds.values("source_id"), ds.values("split"), strict=True))
    held = dict(zip(map(str, range(n)), judges([str(i) for i in range(n)], 0.3, 0), strict=True))
    is_judge = {str(i): split_of[str(i)] == "test" or held[str(i)] for i in range(60)}
    assert {s: role[s] for s in is_judge} == {
        s: schema.JUDGE if j else schema.CALIBRATE for s, j in is_judge.items()}
    assert any(is_judge[s] and split_of[s] != "test" for s in is_judge)
    assert all(role[str(i)] is None for i in unvoted)
    p_wrong = _by_source_id(ds, schema.LABEL_ERROR_PROB)
    assert all(0.0 <= p_wrong[str(i)] <= 1.0 for i in range(n))
    given_vs_crowd = set(ds.match_tags(schema.issue_tag("crowd_given")).values("source_id"))
    split = {s: sp for s, sp in zip(ds.values("source_id"), ds.values("split"), strict=True)}
    assert given_vs_crowd == {str(i) for i in range(60) if i % 3 == 1 and split[str(i)] != "test"}
    if ds.match_tags(schema.issue_tag("label")):    # the review queue: likeliest errors first
        queue = ds.load_saved_view(schema.issue_tag("label"))
        probs = queue.values(schema.LABEL_ERROR_PROB)
        assert probs == sorted(probs, reverse=True)
        info = ds.get_saved_view_info(schema.issue_tag("label"))
        assert "estimated precision" in info["description"]
    report = (ws / "reports" / "clean.md").read_text()
    assert "label flags per class" in report and "measured precision (voted rows)" in report
    assert "given x crowd x model" in report and "crowd_given" in report
    calibrating = sum(not j for j in is_judge.values())
    assert f"{calibrating} voted rows calibrated the audit" in report, report
    assert "only judge it" in report
    assert "Calibrated on people's answers" in report and "from ferplus" in report

    r = cli(dataset_name, ws, "apply", "--labels", "crowd")
    assert r.exit_code == 0 and "relabelled:crowd" in r.output, r.output
    # the votes it used calibrated the audit already (crowd_role = calibrate): none newly marked
    assert "crowd_judges_kept" in r.output and "crowd_role:calibrate" not in r.output, r.output
    ds = store.load_dataset(dataset_name)
    label, why = _by_source_id(ds, "ground_truth.label"), _by_source_id(ds, schema.LABEL_REASON)
    role = _by_source_id(ds, schema.CROWD_ROLE)
    for i in range(60):
        s = str(i)
        if split[s] == "test" or is_judge[s]:  # test: never changed; a judge's votes only judge
            assert label[s] == CLASSES[i % 7] and why.get(s) is None
            assert role[s] == schema.JUDGE
        elif crowd[s] is not None:
            assert label[s] == crowd[s] and why[s].startswith("crowd: consensus"), (s, why[s])
            assert role[s] == schema.CALIBRATE  # its votes made its label: no longer a judge
    assert all(label[str(i)] == CLASSES[i % 7] for i in unvoted)
    raw = raw_view(ds).view
    assert dict(zip(raw.values("source_id"), raw.values("ground_truth.label"), strict=True)) == {
        str(i): CLASSES[i % 7] for i in range(n)}        # the raw view never changes
    # clean audits the labels a policy made as the source gave them: a re-run settles
    r = cli(dataset_name, ws, "clean", "--checks", "labels", "--fast", "--folds", "2",
            "--epochs", "1", "--device", "cpu", "--crowd-holdout", "0.3")
    assert r.exit_code == 0 and "clean: nothing to do: labels" in r.output, r.output
    from curate.core.views import audited_view

    audited = audited_view(ds.view())
    assert dict(zip(*audited.values(["source_id", "ground_truth.label"]), strict=True)) == {
        str(i): CLASSES[i % 7] for i in range(n)}
    u = ds.match({"source_id": "61"})                       # as a reviewer's relabel leaves it:
    f = store.fo()
    u.set_values(schema.LABEL, [f.Classification(label="neutral")])
    u.set_values(schema.LABEL_REASON, ["review"])
    audited = dict(zip(*audited_view(ds.view()).values(["source_id", "ground_truth.label"]),
                       strict=True))
    assert audited["61"] == "neutral" and audited["1"] == CLASSES[1]   # audited as is
    u.set_values(schema.LABEL, [f.Classification(label=CLASSES[61 % 7])])
    u.set_values(schema.LABEL_REASON, [None])

    r = cli(dataset_name, ws, "apply", "--soften", "0.5", "--soft-from", "votes")
    assert r.exit_code == 0 and "soft_labels" in r.output, r.output
    ds = store.load_dataset(dataset_name)
    soft = _by_source_id(ds, schema.SOFT_LABEL)
    s1 = next(str(i) for i in range(60) if i % 3 == 1 and split[str(i)] != "test"
              and not is_judge[str(i)])
    votes = np.asarray(_crowd_votes(int(s1)), float)[list(CLASS_VOTE_COLUMNS)]
    want = 0.5 * votes / votes.sum()
    want[CLASSES.index(crowd[s1])] += 0.5
    assert soft[s1] == pytest.approx(want.tolist(), abs=1e-5)   # the crowd's label + the votes

    r = cli(dataset_name, ws, "apply", "--labels", "given")   # undo the policy: source labels
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(dataset_name)
    assert _by_source_id(ds, "ground_truth.label") == {str(i): CLASSES[i % 7] for i in range(n)}
    assert not any(_by_source_id(ds, schema.LABEL_REASON).values())
    # new answers (a reviewer's, for unvoted rows) re-run the label check: it learns from them
    table = tmp_path / "answers.csv"
    table.write_text("row,annotator,label\n" + "".join(f"{i},ann,{CLASSES[(i + 1) % 7]}\n"
                                                       for i in unvoted))
    assert cli(dataset_name, ws, "votes", "import", str(table)).exit_code == 0
    r = cli(dataset_name, ws, "clean", "--checks", "labels", "--fast", "--folds", "2",
            "--epochs", "1", "--device", "cpu", "--crowd-holdout", "0.3")
    assert r.exit_code == 0 and "nothing to do" not in r.output, r.output
    report = (ws / "reports" / "clean.md").read_text()
    assert "from import" in report and "named annotators: 1)" in report, report
