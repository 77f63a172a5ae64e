"""Out-of-fold probabilities: K-fold training of a timm backbone on the dataset itself, so every
train/val sample gets probabilities from a model that never saw it (what cleanlab needs).

Folds are stratified by label and, when `dup_group` exists, grouped so duplicates stay together.
The K fold models become the dataset's reference classifier; their averaged prediction is also
stored on the test samples (held out from every fold). Probabilities are written to the `oof`
field and reused while the samples, labels and settings are unchanged (the reuse key is the
fingerprint in the reference classifier's metadata, beside the fold models it guards; the run
history records the label check once, as `curate clean` does). The first fold model also embeds
every sample (its pooled features, one space for all splits) into `features.npz` beside the
folds: the features of Datalab's outlier and near-duplicate checks.

`OofConfig` takes resolved values (the K-fold defaults: `curate.clean.config.PROFILES`).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.core import runs, schema
from curate.core.errors import EngineError, InputError, StoreError
from curate.core.issues import Stat
from curate.core.taxonomy import CLASSES, EDITABLE_SPLITS
from curate.core.workspace import Workspace, atomic_path

if TYPE_CHECKING:  # train is imported inside the functions (docs/architecture.md)
    from train.data import ImageSet
    from train.loop import TrainConfig

log = logging.getLogger(__name__)
FEATURES = "features.npz"


@dataclass(frozen=True, kw_only=True)
class OofConfig:
    """Resolved K-fold settings (`curate.clean.config.PROFILES` has the defaults of the profiled
    ones)."""

    folds: int
    backbone: str
    img_size: int
    epochs: int
    batch_size: int
    shift: int
    in_chans: int = 1
    lr: float = 4e-3
    seed: int = 0
    device: str = "cpu"
    label_smoothing: float = 0.0
    max_steps_per_epoch: int | None = None
    amp: bool = True  # TrainConfig.amp: mixed-precision training steps where the device has them
    nproc: int = 1  # > 1: each fold trains on that many torchrun ranks (DDP), same global batch

    def __post_init__(self) -> None:
        from train import distributed

        if self.folds < 2:
            raise InputError(f"folds={self.folds}: K-fold needs at least 2 folds")
        distributed.check_share(self.nproc, self.batch_size)
        self.train_config(0)  # validates the rest

    def train_config(self, fold: int) -> TrainConfig:
        from train.loop import TrainConfig

        return TrainConfig(backbone=self.backbone, img_size=self.img_size, in_chans=self.in_chans,
                           epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=0.05, schedule="onecycle", seed=self.seed + fold,
                           device=self.device, patience=0, label_smoothing=self.label_smoothing,
                           shift=self.shift,
                           max_steps_per_epoch=self.max_steps_per_epoch, tta_flip=True,
                           amp=self.amp)

    def settings(self) -> dict[str, Stat]:
        """What decides the probabilities (where they are computed is not: device, nproc)."""
        return {k: v for k, v in asdict(self).items() if k not in ("device", "nproc")}


@dataclass(frozen=True)
class OofResult:
    """The out-of-fold run `ensure_oof` made or found."""

    oof_accuracy: float
    log_loss: float
    folds: int
    samples: int  # train + val
    test_samples: int
    features: Path  # the features file (`read_features`)
    seconds: float = 0.0
    reused: bool = False


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


@dataclass(frozen=True)
class Folds:
    """What the K-fold training gives: (N, classes) out-of-fold probabilities, the K fold
    models, and each sample's held-out embedding (the pooled features of the fold model that
    never saw it) with its fold index."""

    probs: np.ndarray
    models: list
    heldout_features: np.ndarray
    fold: np.ndarray


def oof_probs(data: ImageSet, cfg: OofConfig, work: Path | None = None,
              progress: bool = False) -> Folds:
    """Out-of-fold probabilities and held-out embeddings over `data`, and the K fold models.

    Each fold trains in `work/fold_<k>` (resumable) and saves its held-out probabilities and
    embeddings there, so a crashed run restarts at the fold it was in.
    """
    from train import distributed
    from train.model import embed, predict

    if cfg.nproc > 1 and not distributed.launched():
        if work is None:
            raise InputError(f"nproc={cfg.nproc}: the distributed folds need a work folder")
        _train_on_ranks(data, cfg, work)  # then the loop below resumes every finished fold
    folds = effective_folds(data.labels, cfg.folds, data.classes)
    probs = np.zeros((len(data), len(data.classes)), dtype=np.float32)
    feats: np.ndarray | None = None
    fold_of = np.full(len(data), -1, np.int64)
    models = []
    for k, held in enumerate(fold_indices(data.labels, data.groups, folds, cfg.seed)):
        fold_dir = None if work is None else work / f"fold_{k}"
        trainer = fold_trainer(data, cfg, k, held, fold_dir, progress)
        saved = None if fold_dir is None else (fold_dir / "heldout.npy",
                                               fold_dir / "heldout_features.npy")
        done = saved is not None and all(f.is_file() for f in saved)
        if trainer.resume():
            log.info("fold %d: resuming from %s", k + 1, fold_dir)
        fit = trainer.fit()
        if saved is not None and done:
            p, e = np.load(saved[0]), np.load(saved[1])
        else:
            p = predict(fit.model, data.images[held], device=cfg.device, tta_flip=True)
            e = embed(fit.model, data.images[held], device=cfg.device)
            if saved is not None:
                _save_npy(saved[0], p)
                _save_npy(saved[1], e)
        if feats is None:
            feats = np.zeros((len(data), e.shape[1]), np.float32)
        probs[held], feats[held], fold_of[held] = p, e, k
        models.append(fit.model.cpu())
        acc = float((p.argmax(1) == data.labels[held]).mean())
        log.info("fold %d/%d: held-out accuracy %.3f", k + 1, folds, acc)
    assert feats is not None  # folds >= 2
    return Folds(probs, models, feats, fold_of)


def fold_trainer(data: ImageSet, cfg: OofConfig, k: int, held: np.ndarray,
                 fold_dir: Path | None, progress: bool) -> Any:
    """The Trainer of fold `k` (every row but `held`), one process or a torchrun rank alike."""
    from train.loop import Trainer

    train_mask = np.ones(len(data), bool)
    train_mask[held] = False
    return Trainer(cfg.train_config(k), data.subset(train_mask), None, fold_dir, progress)


RANK_INPUT, RANK_CONFIG = "ranks_input.npz", "ranks_config.json"


def _train_on_ranks(data: ImageSet, cfg: OofConfig, work: Path) -> None:
    """Train every fold on `cfg.nproc` torchrun ranks (train/distributed.py: DDP, the same
    global batch and seed as one process, rank 0 writes each fold's checkpoints into
    `work/fold_<k>`); the images and labels go to the ranks through one file in `work`."""
    import json

    from train import distributed

    work.mkdir(parents=True, exist_ok=True)
    with atomic_path(work / RANK_INPUT, suffix=".npz") as tmp:
        np.savez(tmp, images=data.images, labels=data.labels,
                 groups=data.groups if data.groups is not None else np.array([], dtype=str))
    spec = {"config": asdict(cfg), "classes": list(data.classes)}
    (work / RANK_CONFIG).write_text(json.dumps(spec))
    log.info("out-of-fold training on %d processes (torchrun)", cfg.nproc)
    try:
        code = distributed.launch(cfg.nproc, "curate.clean.oof_rank", [str(work)])
    finally:
        (work / RANK_INPUT).unlink(missing_ok=True)
    if code:
        raise EngineError(f"the out-of-fold training on {cfg.nproc} processes failed (torchrun "
                          f"exit code {code}; its output is above); a re-run resumes at the "
                          "fold it was in")


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)


def ensemble_predict(models: list, images: np.ndarray, device: str) -> np.ndarray:
    """Mean probability of the fold models (flip TTA)."""
    from train.model import predict

    out = [predict(m.to(device), images, device=device, tta_flip=True) for m in models]
    return np.mean(out, axis=0) if out else np.zeros((0, len(CLASSES)), np.float32)


def _state_rows(view: Any) -> list[tuple]:
    schema_ = view.get_field_schema()
    extra = [f for f in (schema.FILEPATH, schema.SPLIT, schema.DUP_GROUP) if f in schema_]
    return runs.sample_state(view, *extra)


def ensure_oof(ds: Any, view: Any, cfg: OofConfig, ws: Workspace, *,
               progress: bool = False) -> OofResult:
    """Compute (or reuse) `oof` probabilities for `view` and save the reference classifier."""
    fp = runs.fingerprint(cfg.settings(), _state_rows(view))
    work = ws.runs / "oof" / fp[:16]
    made = _reference_of(ws, fp)
    if made is not None and schema.OOF in ds.get_field_schema():
        log.info("out-of-fold probabilities are up to date; reusing them")
        if not _has_heldout(work / FEATURES):  # computed before (held-out) features existed
            _embed_with_reference(view, cfg, ws, fp, work / FEATURES, progress)
        return OofResult(oof_accuracy=made["oof_accuracy"], log_loss=made["log_loss"],
                         folds=len(made["files"]), samples=made.get("samples", 0),
                         test_samples=made.get("test_samples", 0), features=work / FEATURES,
                         reused=True)
    return _compute(ds, view, cfg, ws, fp, work, progress)


def _reference_of(ws: Workspace, fp: str) -> dict[str, Any] | None:
    """The reference classifier's metadata when the out-of-fold run of fingerprint `fp` made
    it (the last one did: each run saves its fold models as the reference)."""
    from train.reference import META, reference_dir

    try:
        meta = json.loads((reference_dir(ws) / META).read_text())
    except (OSError, ValueError):
        return None
    return meta if meta.get("fingerprint") == fp else None


def _compute(ds: Any, view: Any, cfg: OofConfig, ws: Workspace, fp: str, work: Path,
             progress: bool) -> OofResult:
    from train.data import from_view
    from train.metrics import log_loss
    from train.model import embed
    from train.reference import reference_dir, save_reference

    t0 = time.perf_counter()
    data = from_view(view, schema.LABEL, cfg.img_size, cfg.in_chans, progress=progress)
    checked = np.isin(data.splits, EDITABLE_SPLITS)
    if checked.sum() < 2 * cfg.folds:
        raise StoreError(f"only {int(checked.sum())} train/val samples with a label: too few for "
                         f"{cfg.folds}-fold out-of-fold probabilities")
    trainval, test = data.subset(checked), data.subset(~checked)
    k_fold = oof_probs(trainval, cfg, work, progress)
    probs, models = k_fold.probs, k_fold.models
    first = embed(models[0].to(cfg.device), data.images, device=cfg.device)
    heldout, fold = first.copy(), np.full(len(data), -1, np.int64)  # test: unseen by every fold
    heldout[checked], fold[checked] = k_fold.heldout_features, k_fold.fold
    _save_features(work / FEATURES, data.ids, first, heldout, fold)
    _write_probs(ds, trainval.ids, probs)
    if len(test):
        _write_probs(ds, test.ids, ensemble_predict(models, test.images, cfg.device))
    acc = float((probs.argmax(1) == trainval.labels).mean())
    loss = log_loss(probs, trainval.labels)
    save_reference(reference_dir(ws), models, cfg.train_config(0).spec(), oof_accuracy=acc,
                   log_loss=loss, fingerprint=fp, settings=cfg.settings(),
                   samples=len(trainval), test_samples=len(test))
    result = OofResult(oof_accuracy=acc, log_loss=loss, folds=len(models),
                       samples=len(trainval), test_samples=len(test), features=work / FEATURES,
                       seconds=time.perf_counter() - t0)
    log.info("out-of-fold accuracy %.3f, log-loss %.3f (%d folds, %.0f s)", acc, loss,
             len(models), result.seconds)
    return result


def _save_features(path: Path, ids: list[str], feats: np.ndarray, heldout: np.ndarray,
                   fold: np.ndarray) -> None:
    """ids, the first fold model's features of every sample, each sample's held-out embedding
    and its fold (-1: test, embedded by the first fold model), float16 (35k x 512 = 36 MB per
    array), written atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, ids=np.array(ids), features=feats.astype(np.float16),
                 heldout=heldout.astype(np.float16), fold=fold)


def _embed_with_reference(view: Any, cfg: OofConfig, ws: Workspace, fp: str, path: Path,
                          progress: bool) -> None:
    """The features file of a run made before it held held-out embeddings: the saved fold
    models embed again (the folds are recomputed: they depend only on labels, groups, seed)."""
    from train.data import from_view
    from train.model import embed
    from train.reference import load_reference, reference_dir

    ref = load_reference(reference_dir(ws), device=cfg.device)
    if ref.info.get("fingerprint") != fp:
        raise StoreError(f"the reference classifier in {reference_dir(ws)} is not the one of "
                         "these out-of-fold probabilities; re-run `curate clean --checks labels`")
    data = from_view(view, schema.LABEL, cfg.img_size, cfg.in_chans, progress=progress)
    first = embed(ref.models[0], data.images, device=cfg.device)
    heldout, fold = first.copy(), np.full(len(data), -1, np.int64)
    rows = np.flatnonzero(np.isin(data.splits, EDITABLE_SPLITS))
    trainval = data.subset(np.isin(data.splits, EDITABLE_SPLITS))
    for k, held in enumerate(fold_indices(trainval.labels, trainval.groups, len(ref.models),
                                          cfg.seed)):
        heldout[rows[held]] = embed(ref.models[k], trainval.images[held], device=cfg.device)
        fold[rows[held]] = k
    _save_features(path, data.ids, first, heldout, fold)


def _has_heldout(path: Path) -> bool:
    if not path.is_file():
        return False
    with np.load(path) as z:
        return "heldout" in z.files


@dataclass(frozen=True)
class Embeddings:
    """The features file: row of each sample id; the first fold model's features (one space
    for every sample: outliers, near duplicates); each sample's held-out embedding and fold
    (-1: test; the label check's kNN compares a sample only with its own fold's)."""

    row: dict[str, int]
    features: np.ndarray
    heldout: np.ndarray
    fold: np.ndarray


def read_features(path: str | Path) -> Embeddings:
    """`ensure_oof`'s features file, as float32 arrays."""
    with np.load(path) as z:
        return Embeddings({i: k for k, i in enumerate(z["ids"].tolist())},
                          z["features"].astype(np.float32), z["heldout"].astype(np.float32),
                          z["fold"].astype(np.int64))


def _write_probs(ds: Any, ids: list[str], probs: np.ndarray) -> None:
    values = {i: [round(float(v), 6) for v in row] for i, row in zip(ids, probs, strict=False)}
    ds.set_values(schema.OOF, values, key_field="id")
