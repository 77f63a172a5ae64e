"""`train run --nproc 2`: DDP through torchrun on the CPU (gloo), against the 1-process run with
the same global batch and seed (train/distributed.py)."""

from __future__ import annotations

import json
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
