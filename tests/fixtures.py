"""Generators of small datasets in the layouts the tool reads (no real data in the repo)."""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from curate.core.taxonomy import CLASSES, FERPLUS_COLUMNS, RAFDB_IDS

USAGES = ("Training", "PublicTest", "PrivateTest")


def face(seed: int, side: int = 48, channels: int = 1) -> np.ndarray:
    """A deterministic random-ish image (different per seed)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(side // 4, side // 4, channels), dtype=np.uint8)
    img = np.kron(base, np.ones((4, 4, 1), dtype=np.uint8))
    return img[..., 0] if channels == 1 else img


def fer_rows(n: int, start_seed: int = 0) -> list[tuple[int, str, str]]:
    """n valid (emotion, pixels, Usage) rows cycling classes and usages."""
    rows = []
    for i in range(n):
        px = " ".join(map(str, face(start_seed + i).ravel()))
        rows.append((i % len(CLASSES), px, USAGES[i % 3]))
    return rows


def write_fer_csv(path: Path, rows, header=("emotion", "pixels", "Usage"), gz: bool = False) -> Path:
    opener = gzip.open if gz else open
    with opener(path, "wt", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(r)
    return path


def write_ferplus_csv(path: Path, n: int, bad_rows: tuple[int, ...] = (),
                      empty_rows: tuple[int, ...] = (), partial_rows: tuple[int, ...] = (),
                      votes_of: Callable[[int], list[int]] | None = None) -> Path:
    """FER+'s fer2013new.csv for `n` rows: bad rows are cut short, empty rows have every vote
    cell empty (a partial file's "no votes"), partial rows only some; `votes_of(i)` gives row
    i's 10 counts (default 6 + 4 votes on two neighbouring columns)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Usage", "Image name", *FERPLUS_COLUMNS])
        for i in range(n):
            if votes_of is not None:
                votes = list(votes_of(i))
            else:
                votes = [0] * 10
                votes[i % 10] = 6
                votes[(i + 1) % 10] = 4
            row = [USAGES[i % 3], f"fer{i:07d}.png", *votes]
            if i in bad_rows:
                row = row[:5]
            elif i in empty_rows:
                row = [USAGES[i % 3], "", *[""] * 10]
            elif i in partial_rows:
                row = [USAGES[i % 3], "", *votes[:4], *[""] * 6]
            w.writerow(row)
    return path


def save(path: Path, array: np.ndarray, fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)
    return path


def rafdb_official(root: Path, n_train: int = 7, n_test: int = 7) -> Path:
    """basic/EmoLabel/list_patition_label.txt + basic/Image/aligned/*_aligned.jpg."""
    lines = []
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(1, n + 1):
            name = f"{split}_{i:05d}.jpg"
            label = (i - 1) % 7 + 1
            save(root / "Image" / "aligned" / f"{split}_{i:05d}_aligned.jpg",
                 face(i + (0 if split == "train" else 1000), 100, 3))
            lines.append(f"{name} {label}")
    (root / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return root


def rafdb_kaggle(root: Path, per_class: int = 2) -> Path:
    """DATASET/{train,test}/<1..7>/*.jpg + train_labels.csv / test_labels.csv."""
    for split in ("train", "test"):
        rows = [("image", "label")]
        for label in RAFDB_IDS:
            for i in range(per_class):
                name = f"{split}_{label}_{i}_aligned.jpg"
                save(root / "DATASET" / split / str(label) / name,
                     face(label * 100 + i + (0 if split == "train" else 50), 100, 3))
                rows.append((name, str(label)))
        with open(root / f"{split}_labels.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return root


def folder_tree(root: Path, splits=("train", "test"), classes=CLASSES, per_class: int = 2,
                prefix: dict[str, str] | None = None) -> Path:
    """<split>/<class>/*.png; `prefix` maps split -> file-name prefix (FER-2013's folders)."""
    k = 0
    for split in splits:
        for c in classes:
            for _ in range(per_class):
                pre = (prefix or {}).get(split, "img")
                save(root / split / c / f"{pre}_{k}.png", face(k), "PNG")
                k += 1
    return root
