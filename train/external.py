"""`train compare --external-test NAME:PATH`: another dataset's test split, scored by every run's
best checkpoint without retraining (a cross-dataset test, e.g. RAF-DB for models trained on
FER-2013).

The folder is ingested into its own FiftyOne dataset NAME by `curate ingest` itself (RAF-DB's
official or Kaggle layout, else an imagefolder; a re-run recognises the unchanged input and
adds nothing), so its skips and reports are ingest's. Its images go through the training data
loader at each run's input size and channels (RAF-DB's 100 px RGB faces -> 48 px grayscale for
the CPU profile). The scored split is `test` when the dataset has one, else every sample.
Each run's predictions are kept in its folder (`external-<NAME>.npz`) with the test's digest.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.errors import InputError, StoreError
from curate.core.workspace import atomic_path
from train.data import ImageSet, from_view
from train.metrics import evaluate
from train.run import test_key

log = logging.getLogger(__name__)

RAFDB_MARKERS = ("EmoLabel/list_patition_label.txt", "DATASET", "train_labels.csv",
                 "test_labels.csv")


@dataclass(frozen=True)
class ExternalTest:
    """NAME:PATH, parsed: the FiftyOne dataset NAME holds the folder PATH."""

    name: str
    path: Path

    @classmethod
    def parse(cls, text: str) -> ExternalTest:
        name, sep, path = text.partition(":")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise InputError(f"--external-test {text!r}: write NAME:PATH, e.g. "
                             "rafdb-test:datasets/rafdb/basic")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise InputError(f"--external-test {text!r}: NAME must be letters, digits, . _ -")
        if not Path(path).is_dir():
            raise InputError(f"--external-test {text!r}: {path} is not a folder")
        return cls(name, Path(path))

    def source(self) -> str:
        """The ingest source of the folder: rafdb for RAF-DB's layouts, else folder."""
        return "rafdb" if any((self.path / m).exists() for m in RAFDB_MARKERS) else "folder"

    def probs_file(self) -> str:
        return f"external-{self.name}.npz"


def ensure_ingested(ext: ExternalTest, workspace: Path) -> None:
    """`curate --dataset NAME --workspace WS ingest <source> PATH` in a child process (train
    never imports a curation stage); its one-line error becomes this command's. `workspace` is
    the external dataset's own (its media and reports), beside the compared dataset's."""
    cmd = [sys.executable, "-m", "curate.cli", "--dataset", ext.name, "--workspace",
           str(workspace), "--no-progress", "ingest", ext.source(), str(ext.path)]
    log.info("external test %s: %s", ext.name, " ".join(cmd[2:]))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        raise InputError(f"--external-test {ext.name}: ingesting {ext.path} failed: "
                         f"{lines[-1] if lines else f'exit {done.returncode}'}")


def load_external(ext: ExternalTest, img_size: int, in_chans: int,
                  progress: bool = False) -> ImageSet:
    """The external dataset's test split (or all of it) as the runs' input."""
    from curate.core import schema, store

    ds = store.load_dataset(ext.name)
    splits = set(ds.distinct(schema.SPLIT))
    view = ds.match({schema.SPLIT: "test"}) if "test" in splits else ds
    if not len(view):
        raise StoreError(f"external test {ext.name}: the dataset has no samples")
    data = from_view(view, schema.LABEL, img_size, in_chans, progress=progress,
                     splits=tuple(splits))
    return ImageSet(images=data.images, labels=data.labels,
                    splits=np.array(["test"] * len(data)), ids=data.ids, classes=data.classes)


def score_external(run_dir: Path, data: ImageSet, ext: ExternalTest,
                   device: str = "cpu") -> dict[str, Any]:
    """Accuracy and macro-F1 of the run's best checkpoint on the external test (predictions
    cached in the run folder for this exact test)."""
    from train.evaluate import load_run_model
    from train.model import predict

    path = Path(run_dir) / ext.probs_file()
    digest = test_key(data)
    probs = _cached(path, digest)
    if probs is None:
        cfg, model = load_run_model(run_dir, device)
        probs = predict(model, data.images, device=device, tta_flip=cfg.tta_flip)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, digest=np.array(digest), probs=probs.astype(np.float32))
    m = evaluate(probs, data.labels, data.classes)
    return {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def _cached(path: Path, digest: str) -> np.ndarray | None:
    """The run's saved predictions on this exact external test, else None."""
    try:
        with np.load(path) as z:
            return z["probs"] if str(z["digest"]) == digest else None
    except (OSError, ValueError, KeyError):
        return None
