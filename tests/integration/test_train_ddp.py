"""`train run --nproc 2`: DDP through torchrun on the CPU (gloo), against the 1-process run with
the same global batch and seed (train/distributed.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_fixtures import export_tree

ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--backbone", "test_efficientnet_gn", "--img-size", "32", "--batch-size", "16",
        "--epochs", "10", "--patience", "0", "--monitor", "loss", "--device", "cpu", "--seed", "0"]


def train_run(ws: Path, data: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "train", "--workspace", str(ws), "--no-progress",
                           "run", "--data", str(data), "--out", str(out), *ARGS, *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def export(tmp_path_factory) -> Path:
    return export_tree(tmp_path_factory.mktemp("ddp") / "export",
                       {"train": 24, "val": 6, "test": 15})


def test_two_processes_match_one_and_only_rank_0_writes(tmp_path, export):
    pytest.importorskip("torch.distributed.run")
    one = train_run(tmp_path / "ws", export, tmp_path / "one")
    assert one.returncode == 0, one.stderr[-2000:]
    two = train_run(tmp_path / "ws", export, tmp_path / "two", "--nproc", "2")
    assert two.returncode == 0, two.stderr[-2000:]
    assert two.stdout.count("run: ") == 1  # rank 0 reports, once
    m1, m2 = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "two"))
    assert len(m2["history"]) == len(m1["history"]) == 10
    # the same global batch and schedule: one learning-rate curve, epoch by epoch
    assert [h["lr"] for h in m2["history"]] == pytest.approx([h["lr"] for h in m1["history"]])
    assert m1["test"]["n"] == m2["test"]["n"] == 7 * 15
    assert abs(m2["test"]["accuracy"] - m1["test"]["accuracy"]) <= 0.01, (m1["test"], m2["test"])
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir())


def test_a_batch_that_does_not_split_evenly_is_refused(tmp_path, export):
    r = train_run(tmp_path / "ws", export, tmp_path / "odd", "--nproc", "3")
    assert r.returncode == 2
    assert "dividing the batch size 16 evenly" in r.stderr
    assert not (tmp_path / "odd").exists()  # refused before any rank started


def test_out_of_fold_training_on_two_processes_matches_one(tmp_path, export, caplog,
                                                           monkeypatch):
    """`curate clean --nproc 2`: each fold trains on 2 torchrun ranks; the one-process pass
    then resumes the finished folds and predicts the held-out rows (curate.clean.oof)."""
    pytest.importorskip("torch.distributed.run")
    import numpy as np

    from curate.clean.oof import RANK_INPUT, OofConfig, oof_probs
    from train.data import from_folder

    data = from_folder(export, 32, 1).split("train")
    base = dict(folds=2, backbone="test_efficientnet_gn", img_size=32, epochs=4, batch_size=16,
                shift=1, device="cpu")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    one = oof_probs(data, OofConfig(**base), tmp_path / "one")
    caplog.set_level(logging.INFO, logger="train.loop")
    two = oof_probs(data, OofConfig(**base, nproc=2), tmp_path / "two")
    for k in range(2):  # rank 0 wrote each fold's checkpoints; the input file is gone
        assert (tmp_path / "two" / f"fold_{k}" / "last.pt").is_file()
    assert not (tmp_path / "two" / RANK_INPUT).exists()
    assert (two.fold == one.fold).all()
    # the ranks trained every fold to the end; the one-process pass only resumed them
    assert caplog.text.count("at epoch 4") == 2, caplog.text
    # the same global batches and schedule (each rank augments its own rows, so not bit-equal;
    # measured: mean |difference| 0.009, every held-out prediction the same)
    acc = [(f.probs.argmax(1) == data.labels).mean() for f in (one, two)]
    assert abs(acc[0] - acc[1]) <= 0.02, acc
    assert (two.probs.argmax(1) == one.probs.argmax(1)).mean() >= 0.95
    assert np.abs(two.probs - one.probs).mean() < 0.05
    with pytest.raises(Exception, match="dividing the batch size 16 evenly"):
        OofConfig(**base, nproc=3)
