"""`curate ingest` / `status` through the CLI on a real FiftyOne database (isolated per session)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fixtures import (
    face,
    fer_rows,
    folder_tree,
    rafdb_kaggle,
    rafdb_official,
    save,
    write_fer_csv,
    write_ferplus_csv,
)
from PIL import Image
from typer.testing import CliRunner

from curate.cli import app
from curate.core import store
from curate.ingest import base

runner = CliRunner()


def cli(name: str, ws: Path, *args: str):
    return runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args])


def last_report(ws: Path, source: str) -> dict:
    reports = sorted((ws / "reports").glob(f"ingest-{source}-*.json"), key=os.path.getmtime)
    return json.loads(reports[-1].read_text())


def test_fer2013_csv_ingest_with_bad_rows_then_noop_rerun(tmp_path, dataset_name):
    rows = fer_rows(20)
    rows[3] = (3, " ".join(["7"] * 100), "Training")
    rows[5] = (12, rows[5][1], "Training")
    rows[7] = (1, rows[7][1], "Holdout")
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    ws = tmp_path / "ws"
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0, r.output
    assert "added 17" in r.output and "skipped 3" in r.output
    ds = store.load_dataset(dataset_name)
    assert len(ds) == 17
    assert sorted(ds.values("source_id"), key=int) == [str(i) for i in range(20) if i not in (3, 5, 7)]
    s = ds.match({"source_id": "8"}).first()
    assert (s.split, s.ground_truth.label, s.orig_label, s.source) == ("test", "disgust", "1", "fer2013")
    assert s.metadata.width == 48 and Path(s.filepath).is_file()
    assert (ws / "media" / "fer2013" / "000008.png").is_file()
    rep = last_report(ws, "fer2013")
    assert rep["added"] == 17 and rep["path"] == str(csv_path.resolve())
    assert sorted((x["row"], x["reason"]) for x in rep["skipped"]) == [
        (3, "100 pixel values, expected 2304"), (5, "emotion '12' outside 0..6"),
        (7, "unknown Usage 'Holdout' (expected Training, PublicTest, PrivateTest)")]

    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0 and "added 0, already present 17" in r.output
    assert len(store.load_dataset(dataset_name)) == 17

    ds.match({"source_id": "8"}).tag_samples("review:keep")
    shutil.rmtree(ws / "media")                   # the workspace lost its files, the DB kept them
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0 and "added 0, already present 0" in r.output, r.output
    assert "relinked    17" in r.output
    ds = store.load_dataset(dataset_name)
    assert len(ds) == 17 and all(Path(p).is_file() for p in ds.values("filepath"))
    assert ds.match({"source_id": "8"}).first().tags == ["review:keep"]
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0 and "added 0, already present 17" in r.output and "relinked" not in r.output

    write_fer_csv(csv_path, rows + fer_rows(3, start_seed=100))  # the file grew by 3 rows
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert "added 3, already present 17" in r.output
    assert len(store.load_dataset(dataset_name)) == 20


def test_another_csv_is_refused_before_anything_is_written(tmp_path, dataset_name):
    """A CSV's samples are known by row number: another file's rows must not pass for them."""
    ws = tmp_path / "ws"
    rows = fer_rows(12)
    first = write_fer_csv(tmp_path / "fer2013.csv", rows)
    assert cli(dataset_name, ws, "ingest", "fer2013", str(first)).exit_code == 0
    remembered = store.load_dataset(dataset_name).info["sources"]["fer2013"]
    other = write_fer_csv(tmp_path / "other.csv", rows[:6] + fer_rows(9, start_seed=50))
    others = fer_rows(12, start_seed=50)
    repixelled = write_fer_csv(tmp_path / "repixelled.csv", [
        (e, px, u) for (e, _, u), (_, px, _) in zip(rows, others, strict=True)])
    relabelled = write_fer_csv(tmp_path / "relabelled.csv",
                               [((e + 1) % 7, px, u) for e, px, u in rows])
    malformed = write_fer_csv(tmp_path / "bad.csv", [(0, "1 2 3", "Training"), ("x", "", "")])
    for path, why in ((other, "data row 6 is not the fer2013 sample of row 6"),
                      (repixelled, "data row 0 is not the fer2013 sample of row 0 already in "
                                   f"dataset {dataset_name!r} (from fer2013.csv): other pixels"),
                      (relabelled, "label 1 here, 0 there"),
                      (malformed, "malformed here (3 pixel values")):
        r = cli(dataset_name, ws, "ingest", "fer2013", str(path))
        assert r.exit_code == 2 and why in r.output and "another --dataset" in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    ds = store.load_dataset(dataset_name)
    assert len(ds) == 12 and ds.info["sources"]["fer2013"] == remembered
    # the same rows in another file (gzipped, one row longer) are the same samples
    same = write_fer_csv(tmp_path / "fer2013.csv.gz", rows + fer_rows(1, start_seed=90), gz=True)
    r = cli(dataset_name, ws, "ingest", "fer2013", str(same))
    assert r.exit_code == 0 and "added 1, already present 12" in r.output, r.output


def test_a_byte_order_mark_and_blank_lines_are_read_past(tmp_path, dataset_name):
    """Excel's "CSV UTF-8" starts with a BOM; a blank line is no row (FER+ rows stay aligned)."""
    ws = tmp_path / "ws"
    plain = write_fer_csv(tmp_path / "plain.csv", fer_rows(6))
    lines = plain.read_text().splitlines()
    bom = tmp_path / "bom.csv"
    text = "\r\n".join([*lines[:3], "", *lines[3:]]) + "\r\n\r\n"
    bom.write_text("\ufeff" + text, encoding="utf-8")
    r = cli(dataset_name, ws, "ingest", "fer2013", str(bom))
    assert r.exit_code == 0 and "added 6, already present 0, skipped 0" in r.output, r.output
    assert sorted(store.load_dataset(dataset_name).values("source_id"), key=int) == [
        str(i) for i in range(6)]
    plus = write_ferplus_csv(tmp_path / "plus.csv", 6)
    plus.write_text("\ufeff" + plus.read_text() + "\n")
    r = cli(dataset_name, ws, "ingest", "ferplus", str(plus))
    assert r.exit_code == 0 and "updated 6" in r.output, r.output


def test_interrupted_ingest_leaves_whole_samples_and_resumes(tmp_path, dataset_name, monkeypatch):
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", fer_rows(25))
    ws = tmp_path / "ws"
    monkeypatch.setattr(base, "CHUNK", 10)
    real_add = store.add_records
    calls = []

    def add_then_die(ds, records):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_add(ds, records)

    monkeypatch.setattr(store, "add_records", add_then_die)
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 130 and "re-run the same command to resume" in r.output
    ds = store.load_dataset(dataset_name)
    assert len(ds) == 10 and all(Path(p).is_file() for p in ds.values("filepath"))

    monkeypatch.setattr(store, "add_records", real_add)
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0 and "added 15, already present 10" in r.output
    ds = store.load_dataset(dataset_name)
    assert sorted(ds.values("source_id"), key=int) == [str(i) for i in range(25)]
    assert not list((ws / "media").rglob("*.incomplete"))


def test_ferplus_votes_attach_by_row_and_count_mismatch_is_an_error(tmp_path, dataset_name):
    rows = fer_rows(12)
    rows[2] = (9, rows[2][1], "Training")  # not ingested: its votes are a counted skip
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", rows)
    ws = tmp_path / "ws"
    assert cli(dataset_name, ws, "ingest", "fer2013", str(csv_path)).exit_code == 0

    bad = write_ferplus_csv(tmp_path / "short.csv", 11)
    r = cli(dataset_name, ws, "ingest", "ferplus", str(bad))
    assert r.exit_code == 2 and "11 rows but the ingested FER-2013 file" in r.output
    lines = write_ferplus_csv(tmp_path / "shifted.csv", 12).read_text().splitlines()
    shifted = tmp_path / "shifted.csv"  # another order: the rows' Usage no longer match
    shifted.write_text("\n".join([lines[0], *lines[2:], lines[1]]) + "\n")
    r = cli(dataset_name, ws, "ingest", "ferplus", str(shifted))
    assert r.exit_code == 2 and "row 0 is PublicTest here but its FER-2013 sample is in train" \
        in r.output, r.output
    assert "ferplus_votes" not in store.load_dataset(dataset_name).get_field_schema()

    plus = write_ferplus_csv(tmp_path / "fer2013new.csv", 12, bad_rows=(4,))
    r = cli(dataset_name, ws, "ingest", "ferplus", str(plus))
    assert r.exit_code == 0, r.output
    assert "updated 10" in r.output and "skipped 2" in r.output
    ds = store.load_dataset(dataset_name)
    s0 = ds.match({"source_id": "0"}).first()
    assert s0.ferplus_votes == [6, 4, 0, 0, 0, 0, 0, 0, 0, 0]
    assert s0.ferplus_neutral == 6 and s0.ferplus_nf == 0 and s0.ferplus_agreement == 0.6
    assert s0.ferplus_label.label == "neutral"
    s9 = ds.match({"source_id": "9"}).first()   # votes: NF 6, neutral 4
    assert s9.ferplus_label.label == "nonface" and s9.ferplus_nf == 6
    assert ds.match({"source_id": "4"}).first().ferplus_votes is None
    r = cli(dataset_name, ws, "ingest", "ferplus", str(plus))   # the same votes: nothing written
    assert r.exit_code == 0 and "updated 0, already present 10" in r.output, r.output
    assert store.load_dataset(dataset_name).info["runs"]["ingest"][-1]["added"] == 0
    r = cli(dataset_name, ws, "balance", "--resplit", "--yes")  # Usage is now orig_split
    assert r.exit_code == 0, r.output
    moved = store.load_dataset(dataset_name).exists("orig_split").values(["split", "orig_split"])
    assert any(a != b for a, b in zip(*moved, strict=True))
    r = cli(dataset_name, ws, "ingest", "ferplus", str(plus))
    assert r.exit_code == 0 and "already present 10" in r.output, r.output


def test_partial_ferplus_file_rows_without_votes_are_counted_not_malformed(tmp_path,
                                                                           dataset_name):
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", fer_rows(12))
    ws = tmp_path / "ws"
    assert cli(dataset_name, ws, "ingest", "fer2013", str(csv_path)).exit_code == 0
    plus = write_ferplus_csv(tmp_path / "fer2013new-dev.csv", 12,
                             empty_rows=(0, 2, 3, 5, 6, 8), partial_rows=(9,))
    r = cli(dataset_name, ws, "ingest", "ferplus", str(plus))
    assert r.exit_code == 0, r.output
    assert "updated 5" in r.output and "skipped 1" in r.output  # row 9: some cells only
    assert "no votes     6" in r.output and "malformed vote counts" in r.output
    ds = store.load_dataset(dataset_name)
    voted = {s.source_id for s in ds.exists("ferplus_votes")}
    assert voted == {"1", "4", "7", "10", "11"}
    assert ds.match({"source_id": "9"}).first().ferplus_votes is None


def test_rafdb_layouts_and_corrupt_images(tmp_path, dataset_name):
    root = rafdb_official(tmp_path / "RAF-DB" / "basic", 7, 2)
    corrupt = root / "Image" / "aligned" / "train_00003_aligned.jpg"
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    ws = tmp_path / "ws"
    r = cli(dataset_name, ws, "ingest", "rafdb", str(root))
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(dataset_name)
    assert len(ds) == 8 and set(ds.distinct("split")) == {"train", "test"}
    assert ds.match({"source_id": "Image/aligned/train_00002_aligned.jpg"}).first().ground_truth.label == "fear"
    rep = last_report(ws, "rafdb")
    assert [x["file"] for x in rep["skipped"]] == ["Image/aligned/train_00003_aligned.jpg"]
    assert "truncated" in rep["skipped"][0]["reason"]

    other = f"{dataset_name}_k"
    try:
        r = cli(other, ws, "ingest", "rafdb", str(rafdb_kaggle(tmp_path / "kaggle", 2)))
        assert r.exit_code == 0 and "added 28" in r.output
    finally:
        store.fo().delete_dataset(other)


def test_folder_ingest_counts_bad_files_and_status_reports(tmp_path, dataset_name):
    root = folder_tree(tmp_path / "tree", splits=("train", "validation", "test"), per_class=1)
    Image.new("L", (8000, 7000)).save(root / "train" / "happy" / "huge.png")
    (root / "test" / "sad" / "broken.png").write_bytes(b"\x89PNG garbage")
    save(root / "train" / "happiness" / "x.jpg", face(1))  # alias folder name
    ws = tmp_path / "ws"
    r = cli(dataset_name, ws, "ingest", "folder", str(root))
    assert r.exit_code == 0, r.output
    assert "added 22" in r.output and "skipped 2" in r.output
    r = cli(dataset_name, ws, "status")
    assert r.exit_code == 0 and "22 samples" in r.output and "validation" not in r.output
    assert "stage ingest" in r.output


@pytest.mark.parametrize("args, message", [
    (["ingest", "fer2013", "/no/such/file.csv"], "no such file or folder"),
    (["ingest", "folder", "{csv}"], "not a folder"),
])
def test_bad_paths_are_one_line_errors(tmp_path, dataset_name, args, message):
    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(1))
    r = cli(dataset_name, tmp_path, *[a.format(csv=csv_path) for a in args])
    assert r.exit_code == 2 and message in r.output
    assert "Traceback" not in r.output


def test_missing_dataset_and_unreachable_database_fail_fast(tmp_path, monkeypatch):
    r = cli("no_such_dataset_xyz", tmp_path, "status")
    assert r.exit_code == 3 and "does not exist" in r.output
    monkeypatch.setenv("FIFTYONE_DATABASE_URI", "mongodb://127.0.0.1:9/?connectTimeoutMS=500")
    t0 = time.perf_counter()
    r = cli("anything", tmp_path, "status")
    assert time.perf_counter() - t0 < 10
    assert r.exit_code == 3 and "cannot reach the MongoDB" in r.output


class _Threads(ThreadPoolExecutor):
    """The ingest pool in threads, so a monkeypatched writer reaches the workers."""

    def __init__(self, workers: int, mp_context=None) -> None:
        super().__init__(workers)


def test_full_disk_names_the_file_keeps_whole_samples_and_resumes(tmp_path, dataset_name,
                                                                  monkeypatch):
    csv_path = write_fer_csv(tmp_path / "fer2013.csv", fer_rows(25))
    ws = tmp_path / "ws"
    monkeypatch.setattr(base, "CHUNK", 10)
    monkeypatch.setattr(base, "ProcessPoolExecutor", _Threads)
    real_write = Path.write_bytes

    def write_until_full(self, data):  # the temp file of 000014.png: chunk 2 fills the disk
        if self.name.startswith(".000014.png."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_until_full)
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    full = ws.resolve() / "media" / "fer2013" / "000014.png"
    assert r.exit_code == 2, r.output
    assert f"no space left on device writing {full}" in " ".join(r.output.split())
    assert "Traceback" not in r.output
    ds = store.load_dataset(dataset_name)
    assert len(ds) == 10 and all(Path(p).is_file() for p in ds.values("filepath"))

    monkeypatch.setattr(Path, "write_bytes", real_write)
    r = cli(dataset_name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0 and "added 15, already present 10" in r.output, r.output
    assert sorted(store.load_dataset(dataset_name).values("source_id"), key=int) == \
        [str(i) for i in range(25)]


def test_every_ingest_source_has_its_command():
    import typer

    from curate.ingest import SCANNERS, SOURCES

    group = typer.main.get_command(app).commands["ingest"]  # type: ignore[attr-defined]
    assert set(SCANNERS) < set(SOURCES)
    assert list(group.commands) == list(SOURCES)
