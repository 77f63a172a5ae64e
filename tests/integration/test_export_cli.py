"""`curate balance` / `curate export` through the CLI on a real FiftyOne database, and the
`raw` / `curated` views they read."""

from __future__ import annotations

import csv
import filecmp
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fixtures import face, fer_rows, write_fer_csv
from PIL import Image
from typer.testing import CliRunner

from curate.cli import app
from curate.core import schema, store
from curate.core.taxonomy import CLASSES
from curate.core.views import curated_view, raw_view

runner = CliRunner()


def cli(name: str, ws: Path, *args: str, input: str | None = None):
    return runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args],
                         input=input)


def drop_state(ds) -> list:
    return sorted(zip(*ds.values(["id", "balance_drop"]), strict=True))


def split_labels(ds) -> Counter:
    return Counter(zip(*ds.values(["split", "ground_truth.label"]), strict=True))


def _curated_state(tmp_path: Path, name: str) -> tuple[Path, dict]:
    """98 FER-2013 rows (train 10, val 2, test 2 per class) plus what clean/apply/restore/synth
    would leave: 2 exclusions (one train, one test), a duplicate group, a restored file, a
    relabel (row 2: fear -> happy) and one synthetic fear image."""
    ws = tmp_path / "ws"
    usage = ["Training"] * 70 + ["PublicTest"] * 14 + ["PrivateTest"] * 14
    rows = [(e, px, u) for (e, px, _), u in zip(fer_rows(98), usage, strict=True)]
    assert cli(name, ws, "ingest", "fer2013", str(write_fer_csv(tmp_path / "f.csv", rows))) \
        .exit_code == 0
    ds = store.load_dataset(name)
    by_sid = {s: i for s, i in zip(ds.values("source_id"), ds.values("id"), strict=True)}
    restored = tmp_path / "restored.png"
    Image.fromarray(face(999, 96)).save(restored)
    test_sid, restored_test_sid = ds.match({"split": "test"}).values("source_id")[:2]
    ds.set_values("excluded", {by_sid["0"]: True, by_sid[test_sid]: True}, key_field="id")
    ds.set_values("dup_group", {by_sid["7"]: "g1", by_sid["14"]: "g1", by_sid[test_sid]: "g2"},
                  key_field="id")
    ds.set_values("restored_filepath", {by_sid["1"]: str(restored),
                                         by_sid[restored_test_sid]: str(restored)}, key_field="id")
    relabel = ds[by_sid["2"]]
    relabel.ground_truth.label = "happy"  # apply's correction of row 2 (fear)
    relabel.save()
    synth = tmp_path / "synth.png"
    Image.fromarray(face(555)).save(synth)
    store.add_records(ds, [store.SampleRecord(str(synth), "synthetic", "s0", "train", "fear",
                                              "fear", 48, 48, 1, 10)])
    return ws, {"by_sid": by_sid, "test_sid": test_sid, "restored_test_sid": restored_test_sid}


def test_views_raw_and_curated(tmp_path, dataset_name):
    _, info = _curated_state(tmp_path, dataset_name)
    ds = store.load_dataset(dataset_name)
    raw, cur = raw_view(ds), curated_view(ds)
    assert len(raw) == 98  # every real sample, excluded too, no synthetic
    r = dict(zip(raw.view.values("source_id"), raw.view.values(raw.label_path), strict=True))
    assert r["2"] == "fear" and r["0"] == "angry"  # the source's labels, not apply's
    c = dict(zip(cur.view.values("source_id"), cur.view.values(cur.label_path), strict=True))
    assert "0" not in c and c["2"] == "happy" and c["s0"] == "fear"
    assert info["test_sid"] in c  # the test split stays the raw one
    paths = dict(zip(cur.view.values("source_id"), cur.view.values("filepath"), strict=True))
    assert paths["1"].endswith("restored.png")
    # the test images follow the curated preprocessing too, so train and test share one domain
    assert paths[info["restored_test_sid"]].endswith("restored.png")
    for spec in (raw, cur):  # identical test split: same samples and labels
        assert "fer2013" in spec.view.distinct("source")
    tests = [sorted(zip(*v.view.match({"split": "test"}).values(["id", "ground_truth.label"]),
                        strict=True))
             for v in (raw, cur)]
    assert tests[0] == tests[1] and len(tests[0]) == 14
    assert len(curated_view(ds, curate_test=True).view.match({"split": "test"})) == 13
    assert len(curated_view(ds, include_excluded=True)) == 99


BAL = ("balance", "--target", "11", "--max-augment", "0.12", "--max-synthetic", "0.1")


def test_balance_plan_apply_idempotent_resplit(tmp_path, dataset_name):
    ws, info = _curated_state(tmp_path, dataset_name)
    r = cli(dataset_name, ws, "balance", "--target", "30", "--max-augment", "1", "--dry-run")
    assert r.exit_code == 2, r.output
    assert "out of reach" in r.output
    assert "angry 9 real + 9 augmented + 0 synthetic = 18" in r.output
    r = cli(dataset_name, ws, *BAL, "--dry-run")
    assert r.exit_code == 0, r.output
    assert "balance plan" in r.output and "dry run: nothing changed" in r.output
    ds = store.load_dataset(dataset_name)
    assert "balance_drop" not in ds.get_field_schema()
    r = cli(dataset_name, ws, *BAL, input="n\n")
    assert r.exit_code == 1 and "not applied" in r.output
    r = cli(dataset_name, ws, *BAL, "--yes")
    assert r.exit_code == 0, r.output
    assert "1 synthetic images still needed" in r.output  # angry: 9 real + 1 aug + 1 synthetic
    ds = store.load_dataset(dataset_name)
    aug = ds.match({"source": "augmented"})
    assert Counter(aug.values("ground_truth.label")) == {c: 1 for c in CLASSES if c != "happy"}
    for s in aug:
        assert Path(s.filepath).is_file() and "media/augmented" in s.filepath
        assert ds[s.parent].split == "train" and "rotate=" in s.transforms
        assert ds[s.parent].ground_truth.label == s.ground_truth.label
    cur = curated_view(ds)
    train = Counter(cur.view.match({"split": "train"}).values("ground_truth.label"))
    assert train == {c: 11 for c in CLASSES} | {"angry": 10}, train  # angry awaits synth
    plan = ds.info["balance_plan"]
    assert plan["config"]["target"] == 11 and plan["synthetic_needed"]["angry"] == 1
    assert plan["synthetic_needed"]["fear"] == 0  # the existing synthetic fear counts
    before = drop_state(ds)
    r = cli(dataset_name, ws, *BAL, "--yes")
    assert "already applied" in r.output
    assert drop_state(store.load_dataset(dataset_name)) == before

    r = cli(dataset_name, ws, "balance", "--resplit", "--seed", "0", "--yes")
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(dataset_name)
    seen: dict = {}
    for g, s in zip(ds.values("dup_group"), ds.values("split"), strict=True):
        if g:
            assert seen.setdefault(g, s) == s  # no duplicate group straddles splits
    assert Counter(ds.match({"source": "fer2013"}).values("orig_split")) == \
        {"train": 70, "val": 14, "test": 14}
    derived = ds.match({"source": {"$in": ["augmented", "synthetic"]}})
    assert set(derived.values("split")) == {"train"}
    cur = curated_view(ds).view
    parents = set(cur.match({"source": "augmented"}).values("parent"))
    assert set(ds.select(list(parents)).values("split")) <= {"train"}  # no leak via augmentation


def test_balance_copy_mode_is_lossless_and_replaces_classical_copies(tmp_path, dataset_name):
    ws, _ = _curated_state(tmp_path, dataset_name)
    assert cli(dataset_name, ws, *BAL, "--yes").exit_code == 0
    ds = store.load_dataset(dataset_name)
    real = ds.match({"source": "fer2013", "split": "train"})  # as after `curate restore`
    real.set_values("restored_filepath", [str(tmp_path / "restored.png")] * len(real))
    real.set_values("restore_method", ["lanczos"] * len(real))
    r = cli(dataset_name, ws, *BAL, "--augment", "copy", "--no-undersample", "--yes")
    assert r.exit_code == 0, r.output
    cur = curated_view(ds, use_restored=False).view
    copies = cur.match({"source": "augmented"})
    assert len(copies) == 6 and set(copies.values("transforms")) == {"copy"}
    assert all("#copy" in sid for sid in copies.values("source_id"))
    for s in copies:  # the parent's own files: each view shows copy and parent alike
        parent = ds[s.parent]
        assert np.array_equal(np.asarray(Image.open(s.filepath)),
                              np.asarray(Image.open(parent.filepath)))
        assert np.asarray(Image.open(s.filepath)).shape == (48, 48)  # not the 96 px restored
        assert s.restored_filepath == parent.restored_filepath is not None
        assert s.restore_method == parent.restore_method == "lanczos"  # the pipeline report
    # the classical copies of the first run are marked, not deleted
    old = ds.match({"source": "augmented", "transforms": {"$ne": "copy"}})
    assert len(old) == 6 and set(old.values("balance_drop")) == {True}
    r = cli(dataset_name, ws, "balance", "--augment", "mixup", "--target", "11")
    assert r.exit_code == 2 and "--augment" in r.output and "'mixup'" in r.output


def _manifest(root: Path) -> list[dict]:
    with open(root / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_round_trip_card_and_errors(tmp_path, dataset_name):
    ws, info = _curated_state(tmp_path, dataset_name)
    assert cli(dataset_name, ws, *BAL, "--yes").exit_code == 0
    cur_dir, raw_dir = tmp_path / "cur", tmp_path / "raw"
    r = cli(dataset_name, ws, "export", "--view", "curated", "--out", str(cur_dir))
    assert r.exit_code == 0, r.output
    assert cli(dataset_name, ws, "export", "--view", "raw", "--out", str(raw_dir)).exit_code == 0
    man = _manifest(cur_dir)
    files = sorted(p.relative_to(cur_dir).as_posix() for p in cur_dir.rglob("*.png"))
    assert sorted(m["path"] for m in man) == files
    assert all((cur_dir / m["path"]).parent.name == m["label"] for m in man)
    aug = [m for m in man if m["source"] == "augmented"]
    assert all(m["split"] == "train" and m["parents"].startswith("fer2013/") and m["transforms"]
               for m in aug)
    assert "0" not in {m["source_id"] for m in man if m["split"] != "test"}
    # raw and curated share the same test split, file for file (one image restored in curated)
    cmp = filecmp.dircmp(cur_dir / "test", raw_dir / "test")
    assert not cmp.left_only and not cmp.right_only
    for sub in cmp.subdirs.values():
        assert not sub.left_only and not sub.right_only
    assert sum(len(sub.diff_files) for sub in cmp.subdirs.values()) == 1
    card = (cur_dir / "CARD.md").read_text()
    for text in ("FER-2013", "Research use only", "Never redistribute", "### balance",
                 '"target": 11', "| train | angry | 10 | 9 | 1 | 0 | 10 |",
                 "## Package versions", "fiftyone"):
        assert text in card, text
    assert "| test | **all** |" not in card and "| **test** | **all** | **14** |" in card

    # round trip: ingest the export as a folder -> same counts and labels per split
    r = cli(dataset_name + "_rt", tmp_path / "ws2", "ingest", "folder", str(cur_dir))
    assert r.exit_code == 0, r.output
    try:
        back = store.load_dataset(dataset_name + "_rt")
        assert split_labels(back) == \
            Counter((m["split"], m["label"]) for m in man)
    finally:
        store.fo().delete_dataset(dataset_name + "_rt")

    # deterministic: the same export twice is byte-identical
    again = tmp_path / "cur2"
    assert cli(dataset_name, ws, "export", "--view", "curated", "--out", str(again)).exit_code == 0
    d = filecmp.dircmp(cur_dir, again)
    assert not d.diff_files and not d.left_only and filecmp.cmp(cur_dir / "CARD.md",
                                                                again / "CARD.md", shallow=False)

    # unchanged data and settings: a no-op; anything else into an existing folder needs --overwrite
    before = (cur_dir / "manifest.csv").stat().st_mtime_ns
    r = cli(dataset_name, ws, "export", "--view", "curated", "--out", str(cur_dir))
    assert r.exit_code == 0 and "up to date" in r.output
    assert (cur_dir / "manifest.csv").stat().st_mtime_ns == before
    r = cli(dataset_name, ws, "export", "--view", "raw", "--out", str(cur_dir))
    assert r.exit_code == 2 and "already exists" in r.output and "--overwrite" in r.output
    r = cli(dataset_name, ws, "export", "--view", "raw", "--out", str(cur_dir), "--overwrite")
    assert r.exit_code == 0 and len(_manifest(cur_dir)) == 98
    assert not list(tmp_path.glob(".cur*"))  # no temp or old folders left behind
    r = cli(dataset_name, ws, "export", "--format", "parquet", "--out", str(tmp_path / "x"))
    assert r.exit_code == 2 and not (tmp_path / "x").exists()
    (tmp_path / "file").write_text("not a folder")
    r = cli(dataset_name, ws, "export", "--view", "raw", "--out", str(tmp_path / "file" / "out"))
    assert r.exit_code == 2 and "cannot write there" in r.output, r.output


def test_soft_labels_travel_with_the_export_into_training(tmp_path, dataset_name):
    from train.data import from_folder

    ws, _ = _curated_state(tmp_path, dataset_name)
    assert cli(dataset_name, ws, *BAL, "--yes").exit_code == 0
    ds = store.load_dataset(dataset_name)
    rng = np.random.default_rng(0)
    real = ds.match({"source": "fer2013"})                 # clean checks the real samples only
    real.set_values("oof", rng.dirichlet(np.ones(7), size=len(real)).tolist())
    voted = ds.match({schema.SPLIT: "val", "source": "fer2013"})   # FER+ votes on val alone
    votes = {sid: [k % 9 + 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
             for k, sid in enumerate(voted.values(schema.SOURCE_ID))}
    voted.set_values(schema.FERPLUS_VOTES, [votes[sid] for sid in voted.values(schema.SOURCE_ID)])
    r = cli(dataset_name, ws, "apply", "--soften", "0.4")
    assert r.exit_code == 0 and "soft_labels" in r.output, r.output
    cur, raw = tmp_path / "cur", tmp_path / "raw"
    assert cli(dataset_name, ws, "export", "--view", "curated", "--out", str(cur)).exit_code == 0
    assert cli(dataset_name, ws, "export", "--view", "raw", "--out", str(raw)).exit_code == 0
    man = _manifest(cur)
    soft = {m["path"]: [float(v) for v in m["soft_label"].split(";")] for m in man
            if m["soft_label"]}
    assert all(m["soft_label"] == "" for m in man if m["split"] == "test")
    real = [m for m in man if m["split"] != "test" and m["source"] == "fer2013"]
    assert real and all(m["path"] in soft for m in real)
    for m in real:
        assert sum(soft[m["path"]]) == pytest.approx(1.0, abs=1e-3)
        assert CLASSES[int(np.argmax(soft[m["path"]]))] == m["label"]   # 0.4 never overturns
    by_key = {f"{m['source']}/{m['source_id']}": m["path"] for m in man}
    copies = [m for m in man if m["source"] == "augmented"]
    assert copies and all(soft[m["path"]] == soft[by_key[m["parents"]]] for m in copies)
    assert all(m["soft_label"] == "" for m in _manifest(raw))
    assert "soft_label" in (cur / "CARD.md").read_text()
    for exp in (cur, raw):  # each sample's votes travel with it, to score without the dataset
        man = _manifest(exp)
        assert {m["source_id"]: m["ferplus_votes"] for m in man if m["ferplus_votes"]} == {
            str(sid): schema.encode_votes(v) for sid, v in votes.items()}

    data = from_folder(cur, 24, 1, soft=True)
    for path, target, y in zip(data.ids, data.soft, data.labels, strict=True):
        want = soft.get(path, np.eye(7)[y].tolist())
        assert target == pytest.approx(want, abs=1e-6), path
    assert from_folder(cur, 24, 1).soft is None and from_folder(raw, 24, 1, soft=True).soft is None
    text = (cur / "manifest.csv").read_text().replace(";0.", ";x", 1)
    (cur / "manifest.csv").write_text(text)
    with pytest.raises(Exception, match="soft_label of"):
        from_folder(cur, 24, 1, soft=True)


@pytest.mark.parametrize("fmt", ["fer2013-csv", "hf", "fiftyone"])
def test_other_formats(tmp_path, dataset_name, fmt):
    ws, _ = _curated_state(tmp_path, dataset_name)
    out = tmp_path / fmt
    r = cli(dataset_name, ws, "export", "--view", "curated", "--format", fmt, "--out", str(out))
    assert r.exit_code == 0, r.output
    man = _manifest(out)
    assert len(man) == 98 and (out / "CARD.md").is_file()  # 97 real kept + 1 synthetic
    want = Counter((m["split"], m["label"]) for m in man)
    if fmt == "fer2013-csv":
        with open(out / "fer2013.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        usage = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
        assert Counter((usage[r["Usage"]], CLASSES[int(r["emotion"])]) for r in rows) == want
        assert all(len(r["pixels"].split()) == 48 * 48 for r in rows)  # the 96 px one resized
        r = cli(dataset_name + "_rt", tmp_path / "ws2", "ingest", "fer2013",
                str(out / "fer2013.csv"))
        assert r.exit_code == 0 and "added 98" in r.output
        store.fo().delete_dataset(dataset_name + "_rt")
    elif fmt == "hf":
        with open(out / "train" / "metadata.csv", newline="") as fh:
            meta = list(csv.DictReader(fh))
        assert all((out / "train" / m["file_name"]).is_file() for m in meta)
        assert len(meta) == sum(n for (s, _), n in want.items() if s == "train")
    else:
        f = store.fo()
        back = f.Dataset.from_dir(str(out), dataset_type=f.types.FiftyOneDataset)
        try:
            assert split_labels(back) == want
            assert all((out / m["path"]).is_file() for m in man)
        finally:
            back.delete()


def test_empty_view_is_an_error(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(3))
    assert cli(dataset_name, ws, "ingest", "fer2013", str(csv_path)).exit_code == 0
    ds = store.load_dataset(dataset_name)
    ds.set_values("excluded", [True] * len(ds))
    r = cli(dataset_name, ws, "export", "--curate-test", "--out", str(tmp_path / "e"))
    assert r.exit_code == 2 and "empty" in r.output and not (tmp_path / "e").exists()
    assert np.array_equal(np.asarray(Image.open(ds.first().filepath)), face(0))


@pytest.mark.parametrize("fmt", ["imagefolder", "fiftyone"])
def test_unreadable_sources_are_listed_failures_not_exported(tmp_path, dataset_name, fmt):
    """A missing or truncated PNG is a failure listed in CARD.md, never a file in the export
    (PNGs are copied byte for byte, by us or by FiftyOne, once their chunks check out)."""
    ws = tmp_path / "ws"
    csv_path = write_fer_csv(tmp_path / "fer.csv", fer_rows(12))
    assert cli(dataset_name, ws, "ingest", "fer2013", str(csv_path)).exit_code == 0
    media = ws / "media" / "fer2013"
    (media / "000003.png").unlink()
    png = (media / "000004.png").read_bytes()
    (media / "000004.png").write_bytes(png[: len(png) // 2])
    out = tmp_path / "raw"
    r = cli(dataset_name, ws, "export", "--view", "raw", "--format", fmt, "--out", str(out))
    assert r.exit_code == 0 and "2 images could not be read" in r.output, r.output
    card = (out / "CARD.md").read_text()
    assert "`fer2013/3`" in card and "`fer2013/4`" in card
    assert {m["source_id"] for m in _manifest(out)} == {str(i) for i in range(12)} - {"3", "4"}
    assert len(list(out.rglob("*.png"))) == 10
