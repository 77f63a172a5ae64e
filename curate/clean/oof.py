"""Out-of-fold probabilities: K-fold training of a timm backbone on the dataset itself, so every
train/val sample gets probabilities from a model that never saw it (what cleanlab needs).

Folds are stratified by label and, when `dup_group` exists, grouped so duplicates stay together.
The K fold models become the dataset's reference classifier; their averaged prediction is also
stored on the test samples (held out from every fold). Probabilities are written to the `oof`
field and reused while the samples, labels and settings are unchanged. The first fold model
also embeds every sample (its pooled features, one space for all splits) into
`features.npz` beside the folds: the features of Datalab's outlier and near-duplicate checks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.core import runs
from curate.core.errors import InputError, StoreError
from curate.core.workspace import Workspace

if TYPE_CHECKING:  # train is imported inside the functions (docs/architecture.md)
    from train.data import ImageSet
    from train.loop import TrainConfig

log = logging.getLogger(__name__)
STAGE = "oof"
FIELD = "oof"
CHECKED_SPLITS = ("train", "val")
FEATURES = "features.npz"


@dataclass(frozen=True)
class OofConfig:
    """K-fold settings. `fast` is the CPU-budget profile (fewer folds and epochs)."""

    folds: int = 5
    backbone: str = "resnet10t"
    img_size: int = 48
    in_chans: int = 1
    epochs: int = 8
    batch_size: int = 128
    lr: float = 4e-3
    seed: int = 0
    device: str = "cpu"
    label_smoothing: float = 0.0
    shift: int = 3
    max_steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if self.folds < 2:
            raise InputError(f"folds={self.folds}: K-fold needs at least 2 folds")
        self.train_config(0)  # validates the rest

    def train_config(self, fold: int) -> TrainConfig:
        from train.loop import TrainConfig

        return TrainConfig(backbone=self.backbone, img_size=self.img_size, in_chans=self.in_chans,
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=0.05, schedule="onecycle", seed=self.seed + fold,
                           device=self.device, patience=0, label_smoothing=self.label_smoothing,
                           shift=self.shift,
                           max_steps_per_epoch=self.max_steps_per_epoch, tta_flip=True)

    def settings(self) -> dict[str, Any]:
        """What decides the probabilities (device is not part of it)."""
        return {k: v for k, v in asdict(self).items() if k != "device"}


def effective_folds(labels: np.ndarray, folds: int, classes: tuple[str, ...]) -> int:
    """`folds`, or fewer when a class is smaller than that (with a warning); error below 2."""
    counts = np.bincount(labels, minlength=len(classes))
    present = counts[counts > 0]
    smallest = int(present.min()) if len(present) else 0
    if smallest >= folds:
        return folds
    name = classes[int(np.flatnonzero(counts == smallest)[0])]
    if smallest < 2:
        raise InputError(f"class {name!r} has {smallest} sample(s): K-fold needs at least 2 per "
                         "class; add samples or exclude the class")
    log.warning("class %r has only %d samples, fewer than %d folds: using %d folds",
                name, smallest, folds, smallest)
    return smallest


def fold_indices(labels: np.ndarray, groups: np.ndarray | None, folds: int,
                 seed: int) -> list[np.ndarray]:
    """Held-out index arrays of each fold (stratified; grouped when groups are given)."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    x = np.zeros(len(labels))
    if groups is not None:
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
        parts = splitter.split(x, labels, groups)
    else:
        parts = StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, labels)
    return [held for _, held in parts]


def oof_probs(data: ImageSet, cfg: OofConfig, work: Path | None = None,
              progress: bool = False) -> tuple[np.ndarray, list]:
    """(N, classes) out-of-fold probabilities over `data` and the K fold models.

    Each fold trains in `work/fold_<k>` (resumable) and saves its held-out probabilities there,
    so a crashed run restarts at the fold it was in.
    """
    from train.loop import Trainer, predict

    folds = effective_folds(data.labels, cfg.folds, data.classes)
    probs = np.zeros((len(data), len(data.classes)), dtype=np.float32)
    models = []
    for k, held in enumerate(fold_indices(data.labels, data.groups, folds, cfg.seed)):
        fold_dir = None if work is None else work / f"fold_{k}"
        train_mask = np.ones(len(data), bool)
        train_mask[held] = False
        trainer = Trainer(cfg.train_config(k), data.subset(train_mask), None, fold_dir, progress)
        done = fold_dir is not None and (fold_dir / "heldout.npy").is_file()
        if trainer.resume():
            log.info("fold %d: resuming from %s", k + 1, fold_dir)
        fit = trainer.fit()
        if done:
            p = np.load(fold_dir / "heldout.npy")
        else:
            p = predict(fit.model, data.images[held], device=cfg.device, tta_flip=True)
            if fold_dir is not None:
                _save_npy(fold_dir / "heldout.npy", p)
        probs[held] = p
        models.append(fit.model.cpu())
        acc = float((p.argmax(1) == data.labels[held]).mean())
        log.info("fold %d/%d: held-out accuracy %.3f", k + 1, folds, acc)
    return probs, models


def _save_npy(path: Path, array: np.ndarray) -> None:
    import os

    tmp = path.with_name(path.name + ".incomplete.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def ensemble_predict(models: list, images: np.ndarray, device: str) -> np.ndarray:
    """Mean probability of the fold models (flip TTA)."""
    from train.loop import predict

    out = [predict(m.to(device), images, device=device, tta_flip=True) for m in models]
    return np.mean(out, axis=0) if out else np.zeros((0, 7), np.float32)


def _state_rows(view: Any) -> list[tuple]:
    schema = view.get_field_schema()
    extra = [f for f in ("filepath", "split", "dup_group") if f in schema]
    return runs.sample_state(view, *extra)


def ensure_oof(ds: Any, view: Any, cfg: OofConfig, ws: Workspace, *,
               progress: bool = False) -> dict[str, Any]:
    """Compute (or reuse) `oof` probabilities for `view` and save the reference classifier.

    Returns a summary: oof_accuracy, log_loss, folds, samples, seconds, reused.
    """
    from train.data import from_view
    from train.loop import embed
    from train.metrics import log_loss
    from train.reference import reference_dir, save_reference

    t0 = time.perf_counter()
    fp = runs.fingerprint(cfg.settings(), _state_rows(view))
    work = ws.runs / "oof" / fp[:16]
    if runs.is_done(ds, STAGE, fp) and FIELD in ds.get_field_schema():
        log.info("out-of-fold probabilities are up to date; reusing them")
        if not (work / FEATURES).is_file():  # computed before features existed
            _embed_with_reference(view, cfg, ws, fp, work / FEATURES, progress)
        return {**runs.last_run(ds, STAGE)["counts"], "reused": True, "seconds": 0.0,
                "features": str(work / FEATURES)}
    data = from_view(view, "ground_truth", cfg.img_size, cfg.in_chans, progress=progress)
    checked = np.isin(data.splits, CHECKED_SPLITS)
    if checked.sum() < 2 * cfg.folds:
        raise StoreError(f"only {int(checked.sum())} train/val samples with a label: too few for "
                         f"{cfg.folds}-fold out-of-fold probabilities")
    trainval = data.subset(checked)
    probs, models = oof_probs(trainval, cfg, work, progress)
    test = data.subset(~checked)
    test_probs = ensemble_predict(models, test.images, cfg.device) if len(test) else None
    _save_features(work / FEATURES, data.ids, embed(models[0].to(cfg.device), data.images,
                                                     device=cfg.device))
    _write_probs(ds, trainval.ids, probs)
    if test_probs is not None:
        _write_probs(ds, test.ids, test_probs)
    summary = {"oof_accuracy": float((probs.argmax(1) == trainval.labels).mean()),
               "log_loss": log_loss(probs, trainval.labels), "folds": len(models),
               "samples": len(trainval), "test_samples": len(test)}
    save_reference(reference_dir(ws), models, cfg.train_config(0).spec(),
                   oof_accuracy=summary["oof_accuracy"], log_loss=summary["log_loss"],
                   fingerprint=fp, settings=cfg.settings())
    seconds = time.perf_counter() - t0
    runs.record(ds, STAGE, config=cfg.settings(), fp=fp, counts=summary, seconds=seconds)
    log.info("out-of-fold accuracy %.3f, log-loss %.3f (%d folds, %.0f s)",
             summary["oof_accuracy"], summary["log_loss"], len(models), seconds)
    return {**summary, "reused": False, "seconds": seconds, "features": str(work / FEATURES)}


def _save_features(path: Path, ids: list[str], feats: np.ndarray) -> None:
    """ids + float16 features (35k x 512 = 36 MB), written atomically."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".incomplete.npz")
    np.savez(tmp, ids=np.array(ids), features=feats.astype(np.float16))
    os.replace(tmp, path)


def _embed_with_reference(view: Any, cfg: OofConfig, ws: Workspace, fp: str, path: Path,
                          progress: bool) -> None:
    from train.data import from_view
    from train.loop import embed
    from train.reference import load_reference, reference_dir

    ref = load_reference(reference_dir(ws), device=cfg.device)
    if ref.info.get("fingerprint") != fp:
        raise StoreError(f"the reference classifier in {reference_dir(ws)} is not the one of "
                         "these out-of-fold probabilities; re-run `curate clean --checks labels`")
    data = from_view(view, "ground_truth", cfg.img_size, cfg.in_chans, progress=progress)
    _save_features(path, data.ids, embed(ref.models[0], data.images, device=cfg.device))


def read_features(path: str | Path) -> dict[str, np.ndarray]:
    """sample id -> float32 feature vector, from `ensure_oof`'s features file."""
    with np.load(path) as z:
        return dict(zip(z["ids"].tolist(), z["features"].astype(np.float32), strict=True))


def _write_probs(ds: Any, ids: list[str], probs: np.ndarray) -> None:
    values = {i: [round(float(v), 6) for v in row] for i, row in zip(ids, probs, strict=False)}
    ds.set_values(FIELD, values, key_field="id")


def read_probs(view: Any) -> tuple[list[str], np.ndarray | None]:
    """(ids, probs) from the `oof` field; probs None when any sample lacks them."""
    if FIELD not in view.get_field_schema():
        return view.values("id"), None
    ids, vals = view.values("id"), view.values(FIELD)
    if any(v is None for v in vals):
        return ids, None
    return ids, np.asarray(vals, dtype=np.float64)
