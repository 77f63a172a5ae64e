"""`train run`: one backbone on one dataset (export folder or FiftyOne view), evaluated on the
held-out test split; everything written under one run folder.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.errors import InputError
from curate.core.taxonomy import SPLITS
from curate.core.views import VIEWS
from curate.core.workspace import atomic_path, write_json_atomic, write_text_atomic
from train import distributed
from train.data import ImageSet, check_classes, from_folder, from_view
from train.loop import BEST, LAST, FitResult, TrainConfig, Trainer
from train.metrics import Metrics, evaluate
from train.model import count_params, create_model, inference_ms, load_weights, predict

log = logging.getLogger(__name__)
METRICS = "metrics.json"
DATA_KEY = "data_key.txt"  # the data_key a run in this folder trains on
SCORED_SPLITS = ("val", "test")  # the splits whose predictions a run keeps (`probs_file`)


def probs_file(split: str) -> str:
    """A run's saved predictions on `split` (sample keys + probabilities, for re-scoring any
    subset against any label set): test_probs.npz, val_probs.npz."""
    return f"{split}_probs.npz"


TEST_PROBS = probs_file("test")


@dataclass(frozen=True, kw_only=True)
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


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    """A finished `train run`: what `metrics.json` holds (`to_dict`, in this field order)."""

    source: str
    config: dict[str, Any]  # TrainConfig.to_dict()
    test_key: str
    data_key: str
    counts: dict[str, dict[str, int]]  # split -> class -> images
    soft_targets: int = 0  # train images whose target is soft (`curate apply --soften`)
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    stopped_early: bool = False
    test: Metrics
    cost: dict[str, float]  # train_seconds, images_per_s, params, inference_ms_per_image, ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainResult:
        """Read back `to_dict` (metrics.json); keys from other versions are ignored."""
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def named_view(ds: Any, name: str, restored: bool = True) -> tuple[Any, str]:
    """(view, label field) of the raw / curated views (docs/architecture.md): curate.core.views,
    the one definition that export and the App use too (balance marks, restored files, raw test
    labels)."""
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
    return replace(data, splits=splits)


def run_training(src: DataSource, cfg: TrainConfig, out: Path, *, progress: bool = False,
                 resume: bool = True, data: ImageSet | None = None) -> TrainResult | None:
    """Train, keep the best checkpoint, evaluate on test; writes `metrics.json` in `out`.

    Under torchrun (train/distributed.py) every rank trains its shard and only rank 0 writes,
    scores and returns the result; the other ranks return None."""
    t0 = time.perf_counter()
    data = validation_split(data or load_source(src, cfg.img_size, cfg.in_chans, progress),
                            cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    key = data_key(data)
    done = _finished(out, cfg, data, key) if resume else None
    if done is not None:
        return done
    rank = distributed.current()
    if rank.main:
        stamp = out / DATA_KEY
        if (out / LAST).is_file() and (not stamp.is_file() or stamp.read_text().strip() != key):
            log.info("%s: the data changed since this run started; starting over", out)
            (out / LAST).unlink()
        (out / METRICS).unlink(missing_ok=True)
        write_text_atomic(key + "\n", stamp)
    distributed.barrier()
    trainer = Trainer(cfg, data.split("train"), data.split("val"), out, progress and rank.main)
    if resume:
        trainer.resume()
    fit = trainer.fit()
    if not rank.main:
        return None
    test = data.split("test")
    probs = predict(fit.model, test.images, device=cfg.device, tta_flip=cfg.tta_flip)
    result = TrainResult(
        source=src.describe(), config=cfg.to_dict(), test_key=test_key(data), data_key=key,
        counts={s: data.split(s).counts() for s in SPLITS},
        soft_targets=_soft_rows(data.split("train")), history=fit.history,
        best_epoch=fit.best_epoch, stopped_early=fit.stopped_early,
        test=evaluate(probs, test.labels, test.classes),
        cost=_cost(fit, cfg, test, t0))
    save_probs(out / TEST_PROBS, test.ids, probs)
    val = data.split("val")
    save_probs(out / probs_file("val"), val.ids,
               predict(fit.model, val.images, device=cfg.device, tta_flip=cfg.tta_flip))
    write_json_atomic(result.to_dict(), out / METRICS)  # last: its presence means the run is complete
    return result


def _finished(out: Path, cfg: TrainConfig, data: ImageSet, key: str) -> TrainResult | None:
    """The run already finished in `out` with these settings on this data, else None."""
    if not (out / METRICS).is_file():
        return None
    done = read_json(out / METRICS)
    if (done.get("config") != cfg.to_dict() or done.get("test_key") != test_key(data)
            or done.get("data_key") != key):
        return None
    log.info("%s already finished with these settings; reusing it", out)
    for split in SCORED_SPLITS:
        if not (out / probs_file(split)).is_file() and (out / BEST).is_file():
            _save_best_probs(out, cfg, data.split(split), split)  # a run from before them
    return TrainResult.from_dict(done)


def _cost(fit: FitResult, cfg: TrainConfig, test: ImageSet, t0: float) -> dict[str, float]:
    """What the run cost: training time and speed, size, inference speed, and the seconds since
    `t0` (the run's start) including this inference timing."""
    ms = round(inference_ms(fit.model, test.images, cfg.device), 3)
    return {"train_seconds": round(fit.seconds, 2), "images_per_s": round(fit.images_per_s, 1),
            "params": count_params(fit.model), "inference_ms_per_image": ms,
            "total_seconds": round(time.perf_counter() - t0, 2)}


def _save_best_probs(out: Path, cfg: TrainConfig, data: ImageSet, split: str) -> None:
    model = create_model(cfg)
    load_weights(model, out / BEST)
    probs = predict(model.to(cfg.device).eval(), data.images, device=cfg.device,
                    tta_flip=cfg.tta_flip)
    save_probs(out / probs_file(split), data.ids, probs)


def _soft_rows(train: ImageSet) -> int:
    """How many training targets are soft (not one-hot): apply --soften's labels."""
    if train.soft is None:
        return 0
    return int((train.soft.max(1) < 1.0 - 1e-6).sum())


def save_probs(path: Path, ids: list[str], probs: np.ndarray) -> None:
    """A split's predictions keyed by file name (or sample id), written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, keys=np.array([Path(k).name for k in ids]),
                            probs=probs.astype(np.float32))


def load_probs(path: Path) -> tuple[list[str], np.ndarray] | None:
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
