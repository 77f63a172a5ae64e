"""Training data in memory: images + labels from an imagefolder export or a FiftyOne view,
preloaded into one uint8 tensor (35k 48 px grayscale faces = 80 MB), and vectorised batch
augmentation (random horizontal flip, small random shift) done on whole batches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core import schema
from curate.core.errors import InputError, StoreError
from curate.core.imageio import IMAGE_FORMATS, IMAGE_SUFFIXES
from curate.core.progress import task
from curate.core.taxonomy import (
    CLASS_INDEX,
    CLASSES,
    SPLITS,
    class_from_name,
    split_from_name,
)
from curate.core.views import raw_label

log = logging.getLogger(__name__)


@dataclass
class ImageSet:
    """Images (N, C, H, W) uint8, integer labels, per-sample split/key; `ids` are sample ids or
    relative paths (the key predictions are written back with). `soft`: (N, classes) float32
    training targets where the view has soft labels (`curate apply --soften`), else None."""

    images: np.ndarray
    labels: np.ndarray
    splits: np.ndarray
    ids: list[str]
    groups: np.ndarray | None = None
    classes: tuple[str, ...] = CLASSES
    soft: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> ImageSet:
        idx = np.flatnonzero(mask) if mask.dtype == bool else np.asarray(mask)
        return ImageSet(images=self.images[idx], labels=self.labels[idx],
                        splits=self.splits[idx], ids=[self.ids[i] for i in idx],
                        groups=None if self.groups is None else self.groups[idx],
                        classes=self.classes, soft=None if self.soft is None else self.soft[idx])

    def split(self, name: str) -> ImageSet:
        return self.subset(self.splits == name)

    def counts(self) -> dict[str, int]:
        n = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, n, strict=False)}


def _read(path: str, size: int, in_chans: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path, formats=IMAGE_FORMATS) as im:
        im = im.convert("L" if in_chans == 1 else "RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


def load_images(paths: Sequence[str], size: int, in_chans: int, *, progress: bool = False,
                workers: int = 2) -> np.ndarray:
    """Decode and resize every image into one (N, C, size, size) uint8 array."""
    out = np.empty((len(paths), in_chans, size, size), dtype=np.uint8)
    missing: list[str] = []

    def one(i: int) -> None:
        try:
            out[i] = _read(paths[i], size, in_chans)
        except (OSError, ValueError, SyntaxError):
            missing.append(paths[i])

    with task("loading images", len(paths), progress) as tick, \
            ThreadPoolExecutor(max(1, workers)) as pool:
        for i0 in range(0, len(paths), 1024):
            list(pool.map(one, range(i0, min(i0 + 1024, len(paths)))))
            tick(min(1024, len(paths) - i0))
    if missing:
        raise InputError(f"{len(missing)} image(s) cannot be read, e.g. {missing[0]}: restore "
                         "the files or exclude those samples")
    return out


def scan_folder(root: Path) -> tuple[list[str], list[str], list[str]]:
    """(paths, class names, splits) of an imagefolder export `<split>/<class>/*`."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"--data {root}: not a folder; give an export like "
                         "exports/fer-curated with <split>/<class>/*.png")
    paths, labels, splits = [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        split = split_from_name(split_dir.name)
        if split is None:
            continue
        for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            cls = class_from_name(class_dir.name)
            if cls is None:
                raise InputError(f"{class_dir}: unknown class folder {class_dir.name!r} "
                                 f"(expected one of {', '.join(CLASSES)})")
            for f in sorted(class_dir.iterdir()):
                if f.suffix.lower() in IMAGE_SUFFIXES:
                    paths.append(str(f))
                    labels.append(cls)
                    splits.append(split)
    if not paths:
        raise InputError(f"{root}: no images under <split>/<class>/ (splits train, val, test)")
    return paths, labels, splits


def check_classes(labels: np.ndarray, splits: np.ndarray, classes: Sequence[str],
                  where: str, need: Sequence[str] = ("train", "test")) -> None:
    """Every class must appear in the train and test splits (else metrics are meaningless)."""
    for split in need:
        present = set(labels[splits == split].tolist())
        if not present:
            raise InputError(f"{where}: split {split!r} is empty; the export needs it")
        lost = [classes[i] for i in range(len(classes)) if i not in present]
        if lost:
            raise InputError(f"{where}: class(es) {', '.join(lost)} missing from split {split!r}; "
                             "re-export with every class in every split")


def from_folder(root: Path, size: int, in_chans: int, *, progress: bool = False,
                soft: bool = False) -> ImageSet:
    """Load an imagefolder export into memory. `soft`: also the soft labels its manifest.csv
    carries (`curate apply --soften`, exported), as training targets."""
    paths, names, splits = scan_folder(root)
    labels = np.array([CLASS_INDEX[n] for n in names], dtype=np.int64)
    split_arr = np.array(splits)
    check_classes(labels, split_arr, CLASSES, str(root))
    rel = [Path(p).relative_to(root).as_posix() for p in paths]
    return ImageSet(images=load_images(paths, size, in_chans, progress=progress), labels=labels,
                    splits=split_arr, ids=rel,
                    soft=manifest_soft_targets(Path(root), rel, labels) if soft else None)


MANIFEST = "manifest.csv"  # an export's per-image table (curate/export/formats.py)


def manifest_soft_targets(root: Path, rel: list[str], labels: np.ndarray) -> np.ndarray | None:
    """(N, classes) targets from manifest.csv's `soft_label` column (`schema.encode_soft`'s
    text; one-hot where empty); None when the folder has no manifest or no soft labels. A
    malformed value is an InputError naming the file and the image."""
    import csv

    path = root / MANIFEST
    if not path.is_file():
        return None
    with open(path, newline="", encoding="utf-8") as fh:
        by_path = {r["path"]: r.get(schema.SOFT_LABEL) or "" for r in csv.DictReader(fh)}
    if not any(by_path.values()):
        return None
    out = np.zeros((len(rel), len(CLASSES)), dtype=np.float32)
    for row, (p, y) in enumerate(zip(rel, labels, strict=True)):
        soft = schema.decode_soft(by_path.get(p, ""), f"{path}: {schema.SOFT_LABEL} of {p}")
        if soft is None:
            out[row, y] = 1.0
        else:
            out[row] = soft
    return out


def view_arrays(view: Any, label_field: str) -> dict[str, list]:
    """Bulk-read what training needs from a FiftyOne view (one `values` call per field)."""
    fields = view.get_field_schema()
    base = label_field.split(".")[0]
    if base not in fields:
        raise StoreError(f"label field {base!r} is not on the dataset (fields: "
                         f"{', '.join(sorted(fields))})")
    plain = label_field == schema.ORIG_LABEL or "." in label_field
    path = label_field if plain else f"{label_field}.label"
    cols = {"id": view.values("id"), "filepath": view.values(schema.FILEPATH),
            "split": view.values(schema.SPLIT), "label": view.values(path),
            "source": view.values(schema.SOURCE)}
    if label_field == schema.ORIG_LABEL:
        cols["label"] = [raw_label(s, o)
                         for s, o in zip(cols["source"], cols["label"], strict=True)]
    cols["dup_group"] = view.values(schema.DUP_GROUP) if schema.DUP_GROUP in fields else None
    return cols


def view_soft_targets(view: Any, cols: dict[str, list], keep: list[int]) -> np.ndarray | None:
    """The view's soft labels (read only when asked for) as targets of the `keep` rows."""
    fields = view.get_field_schema()
    if schema.SOFT_LABEL not in fields:
        return None
    extra = {"soft": view.values(schema.SOFT_LABEL),
             "parent": view.values(schema.PARENT) if schema.PARENT in fields else None}
    return soft_targets({**cols, **extra}, keep, len(CLASSES))


def soft_targets(cols: dict[str, list], keep: list[int], n_classes: int) -> np.ndarray | None:
    """(len(keep), classes) targets: the sample's soft label, else its parent's (an augmented
    copy), else its one-hot label; None when the view has no soft labels at all. A stored soft
    label that is not `n_classes` probabilities is an InputError naming the sample."""
    soft = cols.get("soft")
    if soft is None or all(v is None for v in soft):
        return None
    if n_classes != len(CLASSES):
        raise ValueError(f"soft labels have {len(CLASSES)} classes ({', '.join(CLASSES)}), "
                         f"not {n_classes}")
    ids = cols["id"]
    by_id = {i: k for k, i in enumerate(ids) if soft[k] is not None}
    parents = cols.get("parent") or [None] * len(ids)
    out = np.zeros((len(keep), n_classes), dtype=np.float32)
    for row, i in enumerate(keep):
        k = i if soft[i] is not None else by_id.get(parents[i])
        if k is None:
            out[row, CLASS_INDEX[cols["label"][i]]] = 1.0
            continue
        where = f"sample {ids[k]}" + ("" if k == i else f" (parent of sample {ids[i]})")
        out[row] = schema.check_soft(soft[k], where)
    return out


def from_view(view: Any, label_field: str, size: int, in_chans: int, *,
              progress: bool = False, splits: Sequence[str] = SPLITS,
              soft: bool = False) -> ImageSet:
    """Load a FiftyOne view into memory; samples without a taxonomy label are left out.
    `soft`: also the view's soft labels as training targets (a model of the data's given labels,
    such as the out-of-fold one, leaves them)."""
    cols = view_arrays(view, label_field)
    keep = [i for i, (lab, sp) in enumerate(zip(cols["label"], cols["split"], strict=False))
            if lab in CLASS_INDEX and sp in splits]
    if not keep:
        raise StoreError(f"no samples with a {label_field} label in splits {', '.join(splits)}")
    dropped = len(cols["id"]) - len(keep)
    if dropped:
        log.info("%d samples without a class label in %s (or outside %s) left out",
                 dropped, label_field, "/".join(splits))
    paths = [cols["filepath"][i] for i in keep]
    groups = None
    if cols["dup_group"] is not None:
        groups = np.array([str(cols["dup_group"][i]) if cols["dup_group"][i] is not None
                           else f"_{cols['id'][i]}" for i in keep])
    return ImageSet(images=load_images(paths, size, in_chans, progress=progress),
                    labels=np.array([CLASS_INDEX[cols["label"][i]] for i in keep], dtype=np.int64),
                    splits=np.array([cols["split"][i] for i in keep]),
                    ids=[cols["id"][i] for i in keep], groups=groups,
                    soft=view_soft_targets(view, cols, keep) if soft else None)


def augment(x, generator, shift: int = 3, flip: bool = True):  # noqa: ANN001, ANN201
    """Random horizontal flip and random shift (reflect-pad + crop) of a float batch, vectorised."""
    import torch

    n, c, h, w = x.shape
    if flip:
        m = torch.rand(n, generator=generator) < 0.5
        x = torch.where(m[:, None, None, None].to(x.device), x.flip(3), x)
    if shift > 0:
        p = torch.nn.functional.pad(x, (shift, shift, shift, shift), mode="reflect")
        oy = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        ox = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        bidx = torch.arange(n, device=x.device)[:, None, None, None]
        cidx = torch.arange(c, device=x.device)[None, :, None, None]
        x = p[bidx, cidx, rows, cols]
    return x
