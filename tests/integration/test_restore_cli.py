"""`curate restore` through the CLI on a real FiftyOne database: classical and GFPGAN paths,
resume after an interruption, views, the expression check, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from restore_fixtures import gfpgan_ckpt, ingest_small_fer, write_tiny_reference  # noqa: F401
from typer.testing import CliRunner

from curate.cli import app
from curate.core import store
from curate.core.workspace import Workspace
from curate.restore import classical
from train.reference import reference_dir

runner = CliRunner()


def cli(name: str, ws: Path, *args: str):
    return runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args])


def last_report(ws: Path) -> dict:
    reports = sorted((ws / "reports").glob("restore-*.json"), key=os.path.getmtime)
    return json.loads(reports[-1].read_text())


def test_lanczos_end_to_end_then_noop_and_app_toggle(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 12)
    r = cli(dataset_name, ws, "restore", "--method", "lanczos", "--size", "96", "--no-check")
    assert r.exit_code == 0, r.output
    assert "restored 12, already done 0, skipped 0 of 12" in r.output
    assert "skipped by request" in r.output
    ds = store.load_dataset(dataset_name)
    s = ds.match({"source_id": "5"}).first()
    out = ws.resolve() / "media" / "restored" / "lanczos-96" / "fer2013" / "5.png"
    assert s.restored_filepath == str(out) and s.restore_method == "lanczos"
    assert s.restore_weights_sha256 is None
    with Image.open(out) as im:
        assert im.size == (96, 96) and im.mode == "L"
    assert "restored_filepath" in ds.app_config.media_fields
    rep = last_report(ws)
    assert rep["restored"] == 12 and rep["check"]["status"].startswith("skipped by request")
    run = ds.info["runs"]["restore"][-1]
    assert run["counts"]["restored"] == 12 and run["check"]["status"].startswith("skipped")

    r = cli(dataset_name, ws, "restore", "--method", "lanczos", "--size", "96", "--no-check")
    assert r.exit_code == 0 and "unchanged since the last run" in r.output
    r = cli(dataset_name, ws, "restore", "--method", "bicubic", "--size", "64", "--color", "rgb",
            "--split", "test", "--no-check")
    assert r.exit_code == 0 and "restored 4, already done 0" in r.output, r.output
    f = ws.resolve() / "media" / "restored" / "bicubic-64-rgb" / "fer2013" / "2.png"
    with Image.open(f) as im:
        assert im.size == (64, 64) and im.mode == "RGB"


def test_interrupted_run_resumes_with_only_the_rest(tmp_path, dataset_name, monkeypatch):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 12)
    real = classical.upsample
    calls = []

    def upsample_then_die(*a, **k):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(classical, "upsample", upsample_then_die)
    args = ("restore", "--method", "lanczos", "--size", "64", "--no-check", "--batch-size", "4",
            "--workers", "1")
    r = cli(dataset_name, ws, *args)
    assert r.exit_code == 130 and "re-run the same command to resume" in r.output
    ds = store.load_dataset(dataset_name)
    done = [p for p in ds.values("restored_filepath") if p]
    assert len(done) == 5 and all(Path(p).is_file() for p in done)
    mtimes = {p: os.stat(p).st_mtime_ns for p in done}

    monkeypatch.setattr(classical, "upsample", real)
    r = cli(dataset_name, ws, *args)
    assert r.exit_code == 0 and "restored 7, already done 5" in r.output, r.output
    assert all(os.stat(p).st_mtime_ns == t for p, t in mtimes.items())
    assert not list((ws / "media" / "restored").rglob("*.incomplete"))


def test_views_corrupt_images_and_missing_inputs(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 8)
    r = cli(dataset_name, ws, "restore", "--method", "lanczos", "--view", "issue:lowinfo",
            "--no-check")
    assert r.exit_code == 2 and "neither a saved view nor a tag" in r.output
    ds = store.load_dataset(dataset_name)
    ds.match({"source_id": {"$in": ["1", "3"]}}).tag_samples("issue:lowinfo")
    Path(ds.match({"source_id": "3"}).first().filepath).write_bytes(b"\x89PNG broken")
    r = cli(dataset_name, ws, "restore", "--method", "lanczos", "--view", "issue:lowinfo",
            "--no-check")
    assert r.exit_code == 0 and "restored 1, already done 0, skipped 1 of 2" in r.output
    assert "unreadable or truncated" in r.output
    r = cli(dataset_name, ws, "restore", "--method", "lanczos", "--class", "disgust",
            "--split", "test", "--no-check")
    assert r.exit_code == 2 and "matches no samples" in r.output
    r = cli(dataset_name, ws, "restore", "--no-check", "--cache-dir", str(tmp_path / "cache"))
    assert r.exit_code == 4 and "GFPGAN weights not found: download https://github.com/" in r.output
    assert str(tmp_path / "cache" / "GFPGANv1.4.pth") in r.output
    r = cli(dataset_name, ws, "restore", "--method", "lanczos")
    assert r.exit_code == 4 and "no reference classifier" in r.output and "--no-check" in r.output


def test_expression_check_tags_changed_predictions(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 10)
    write_tiny_reference(reference_dir(Workspace.for_dataset(dataset_name, ws)))
    r = cli(dataset_name, ws, "restore", "--method", "bicubic", "--size", "64", "--unsharp")
    assert r.exit_code == 0, r.output
    assert "expression check:" in r.output and "of 10 predictions changed" in r.output
    rep = last_report(ws)
    c = rep["check"]
    assert c["status"] == "done" and c["checked"] == 10
    assert sum(v["checked"] for v in c["per_class"].values()) == 10
    ds = store.load_dataset(dataset_name)
    tagged = ds.count_sample_tags().get("issue:restore_changed", 0)
    assert tagged == c["changed"]
    assert ds.info["runs"]["restore"][-1]["check"]["changed"] == c["changed"]
    assert set(ds.values("restore_method")) == {"bicubic+unsharp"}


@pytest.mark.slow
def test_gfpgan_end_to_end_on_real_architecture(tmp_path, dataset_name, gfpgan_ckpt):  # noqa: F811
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 3)
    r = cli(dataset_name, ws, "restore", "--weights", str(gfpgan_ckpt), "--size", "128",
            "--batch-size", "2", "--device", "cpu", "--no-check")
    assert r.exit_code == 0, r.output
    assert "restored 3, already done 0" in r.output and "UNVERIFIED" in r.output
    ds = store.load_dataset(dataset_name)
    shas = set(ds.values("restore_weights_sha256"))
    assert len(shas) == 1 and len(shas.pop()) == 64
    for p in ds.values("restored_filepath"):
        arr = np.asarray(Image.open(p))
        assert arr.shape == (128, 128)
    assert last_report(ws)["weights"]["verified"] is False


def test_a_view_restores_its_real_samples_only(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    ingest_small_fer(cli, dataset_name, ws, tmp_path, 4)
    ds = store.load_dataset(dataset_name)
    synth = tmp_path / "synth.png"
    Image.fromarray(np.zeros((48, 48), np.uint8)).save(synth)
    store.add_records(ds, [store.SampleRecord(str(synth), "synthetic", "s0", "train", "fear",
                                              "fear", 48, 48, 1, 10)])
    ds.match({"source_id": {"$in": ["1", "s0"]}}).tag_samples("look-again")
    r = cli(dataset_name, ws, "restore", "--method", "lanczos", "--size", "64", "--view",
            "look-again", "--no-check")
    assert r.exit_code == 0 and "restored 1, already done 0, skipped 0 of 1" in r.output, r.output
    ds = store.load_dataset(dataset_name)
    assert ds.match({"source": "synthetic"}).first().restored_filepath is None
