"""`train run`: one backbone on one dataset (export folder or FiftyOne view), evaluated on the
held-out test split; everything written under one run folder.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.errors import InputError
from curate.core.workspace import write_json_atomic
from train.data import ImageSet, check_classes, from_folder, from_view
from train.loop import (
    BEST,
    LAST,
    TrainConfig,
    Trainer,
    count_params,
    create_model,
    inference_ms,
    load_weights,
    predict,
)
from train.metrics import evaluate

log = logging.getLogger(__name__)
VIEWS = ("raw", "curated")
METRICS = "metrics.json"
DATA_KEY = "data_key.txt"  # the data_key a run in this folder trains on
TEST_PROBS = "test_probs.npz"  # test sample keys + predicted probabilities, for re-scoring subsets


@dataclass(frozen=True)
class DataSource:
    """Where the images come from: an export folder, or a named view of the dataset."""

    folder: Path | None = None
    view: str | None = None
    dataset: str | None = None
    restored: bool = True  # a curated view's images: the restored files where restoration ran

    def __post_init__(self) -> None:
        if (self.folder is None) == (self.view is None):
            raise InputError("give exactly one of --data DIR or --view raw|curated")
        if self.view is not None and self.view not in VIEWS:
            raise InputError(f"--view {self.view!r}: use one of {', '.join(VIEWS)}")

    def describe(self) -> str:
        if self.folder:
            return str(self.folder)
        return f"{self.dataset}:{self.view}" + ("" if self.restored else " (original files)")


def named_view(ds: Any, name: str, restored: bool = True) -> tuple[Any, str]:
    """(view, label field) of DESIGN.md's raw / curated views: curate.views, the one definition
    that export and the App use too (balance marks, restored files, raw test labels)."""
    from curate.core.views import get_view

    spec = get_view(ds, name, **({} if name == "raw" else {"use_restored": restored}))
    return spec.view, spec.label_field


def load_source(src: DataSource, img_size: int, in_chans: int, progress: bool = False) -> ImageSet:
    if src.folder is not None:
        return from_folder(src.folder, img_size, in_chans, progress=progress, soft=True)
    from curate.core import store

    ds = store.load_dataset(src.dataset or "fer")
    view, field = named_view(ds, src.view or "curated", src.restored)
    data = from_view(view, field, img_size, in_chans, progress=progress, soft=True)
    check_classes(data.labels, data.splits, data.classes, f"view {src.view}")
    return data


def test_key(data: ImageSet) -> str:
    """A digest of the test split (ids or file names, with their labels): variants compared
    against each other must share it."""
    test = data.split("test")
    h = hashlib.sha256()
    for key, y in sorted(zip((Path(k).name for k in test.ids), test.labels.tolist(), strict=False)):
        h.update(f"{key}\x1f{y}\n".encode())
    return h.hexdigest()


def data_key(data: ImageSet) -> str:
    """A digest of everything a run learns from: images, labels (soft ones too) and splits. A
    finished run is reused, and a crashed one resumed, only on the same data."""
    h = hashlib.blake2b(digest_size=32)
    arrays = [data.images, data.labels, data.splits.astype("U8")]
    for a in arrays + ([data.soft] if data.soft is not None else []):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def validation_split(data: ImageSet, seed: int, frac: float = 0.1) -> ImageSet:
    """Data with a val split: kept when present, else carved from train (stratified, seeded)."""
    if (data.splits == "val").any():
        return data
    from sklearn.model_selection import train_test_split

    idx = np.flatnonzero(data.splits == "train")
    _, val_idx = train_test_split(idx, test_size=frac, random_state=seed,
                                  stratify=data.labels[idx])
    splits = data.splits.copy()
    splits[val_idx] = "val"
    log.info("no val split: carved %d samples from train", len(val_idx))
    return ImageSet(data.images, data.labels, splits, data.ids, data.groups, data.classes,
                    data.extra, data.soft)


def run_training(src: DataSource, cfg: TrainConfig, out: Path, *, progress: bool = False,
                 resume: bool = True, data: ImageSet | None = None) -> dict[str, Any]:
    """Train, keep the best checkpoint, evaluate on test; writes `metrics.json` in `out`."""
    t0 = time.perf_counter()
    data = validation_split(data or load_source(src, cfg.img_size, cfg.in_chans, progress),
                            cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    key = data_key(data)
    if (out / METRICS).is_file() and resume:
        done = read_json(out / METRICS)
        if (done.get("config") == cfg.to_dict() and done.get("test_key") == test_key(data)
                and done.get("data_key") == key):
            log.info("%s already finished with these settings; reusing it", out)
            if not (out / TEST_PROBS).is_file() and (out / BEST).is_file():
                _save_best_test_probs(out, cfg, data.split("test"))  # a run from before them
            return done
    stamp = out / DATA_KEY
    if (out / LAST).is_file() and (not stamp.is_file() or stamp.read_text().strip() != key):
        log.info("%s: the data changed since this run started; starting over", out)
        (out / LAST).unlink()
    (out / METRICS).unlink(missing_ok=True)
    stamp.write_text(key + "\n")
    trainer = Trainer(cfg, data.split("train"), data.split("val"), out, progress)
    if resume:
        trainer.resume()
    fit = trainer.fit()
    test = data.split("test")
    probs = predict(fit.model, test.images, device=cfg.device, tta_flip=cfg.tta_flip)
    result = {
        "source": src.describe(), "config": cfg.to_dict(), "test_key": test_key(data),
        "data_key": key,
        "counts": {s: data.split(s).counts() for s in ("train", "val", "test")},
        "soft_targets": _soft_rows(data.split("train")),
        "history": fit.history, "best_epoch": fit.best_epoch, "stopped_early": fit.stopped_early,
        "test": evaluate(probs, test.labels, test.classes),
        "cost": {"train_seconds": round(fit.seconds, 2), "images_per_s": round(fit.images_per_s, 1),
                 "params": count_params(fit.model),
                 "inference_ms_per_image": round(inference_ms(fit.model, test.images,
                                                              cfg.device), 3),
                 "total_seconds": round(time.perf_counter() - t0, 2)},
    }
    save_test_probs(out / TEST_PROBS, test.ids, probs)
    write_json_atomic(result, out / METRICS)  # last: its presence means the run is complete
    return result


def _save_best_test_probs(out: Path, cfg: TrainConfig, test: ImageSet) -> None:
    model = create_model(cfg)
    load_weights(model, out / BEST)
    probs = predict(model.to(cfg.device).eval(), test.images, device=cfg.device,
                    tta_flip=cfg.tta_flip)
    save_test_probs(out / TEST_PROBS, test.ids, probs)


def _soft_rows(train: ImageSet) -> int:
    """How many training targets are soft (not one-hot): apply --soften's labels."""
    if train.soft is None:
        return 0
    return int((train.soft.max(1) < 1.0 - 1e-6).sum())


def save_test_probs(path: Path, ids: list[str], probs: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, keys=np.array([Path(k).name for k in ids]),
                        probs=probs.astype(np.float32))
    tmp.replace(path)


def load_test_probs(path: Path) -> tuple[list[str], np.ndarray] | None:
    """(keys, probs) saved by a finished run, or None (runs from before the file existed)."""
    try:
        with np.load(path) as z:
            return [str(k) for k in z["keys"]], z["probs"]
    except (OSError, ValueError, KeyError):
        return None


def read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
