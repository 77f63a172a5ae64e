"""RAF-DB basic: the official layout (`EmoLabel/list_patition_label.txt` +
`Image/aligned/<name>_aligned.jpg`) or the common Kaggle one (`DATASET/{train,test}/<1..7>/` with
`train_labels.csv` / `test_labels.csv`). Labels 1..7 are mapped to the taxonomy; RAF-DB has no
val split. `source_id` is the image path relative to the dataset root.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from curate.core.errors import InputError
from curate.core.imageio import IMAGE_SUFFIXES
from curate.core.taxonomy import RAFDB_IDS
from curate.ingest.base import Candidate, Skip

LABEL_FILE = Path("EmoLabel/list_patition_label.txt")


def _inside(root: Path, candidate: Path) -> bool:
    return candidate.resolve().is_relative_to(root.resolve())


def _label(text: str) -> str | None:
    text = text.strip()
    return RAFDB_IDS.get(int(text)) if text.isdigit() else None


def _split(name: str) -> str | None:
    prefix = name.split("_", 1)[0].lower()
    return prefix if prefix in ("train", "test") else None


def scan_official(root: Path, stats: dict) -> Iterator[Candidate | Skip]:
    aligned = root / "Image" / "aligned"
    if not aligned.is_dir():
        raise InputError(f"{root}: no Image/aligned/ folder (unzip aligned.zip there)")
    lines = (root / LABEL_FILE).read_text(encoding="utf-8-sig", errors="replace").splitlines()
    stats["rows"] = len(lines)
    for row, line in enumerate(lines):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            yield Skip(str(LABEL_FILE), row, f"malformed line {line.strip()[:60]!r}")
            continue
        name, raw = parts
        label, split = _label(raw), _split(Path(name).name)
        image = aligned / f"{Path(name).stem}_aligned{Path(name).suffix or '.jpg'}"
        if label is None:
            yield Skip(str(LABEL_FILE), row, f"label {raw!r} outside 1..7")
        elif not _inside(root, aligned / name) or not _inside(root, image):
            yield Skip(str(LABEL_FILE), row, f"path {name!r} escapes the dataset root")
        elif split is None:
            yield Skip(str(LABEL_FILE), row, f"{name!r} starts with neither train_ nor test_")
        elif not image.is_file():
            yield Skip(image.relative_to(root).as_posix(), row, "file not found")
        else:
            yield Candidate(source_id=image.relative_to(root).as_posix(), split=split,
                            label=label, orig_label=raw, path=image, row=row)


def _kaggle_root(root: Path) -> Path | None:
    for base in (root / "DATASET", root):
        if (base / "train").is_dir() and (base / "test").is_dir():
            return base
    return None


def _csv_labels(root: Path, base: Path, split: str) -> dict[str, str] | None:
    for where in (root, base):
        f = where / f"{split}_labels.csv"
        if f.is_file():
            with f.open(newline="", encoding="utf-8-sig") as fh:
                return {r[0].strip(): r[1].strip() for r in csv.reader(fh)
                        if len(r) >= 2 and r[0].strip().lower() != "image"}
    return None


def scan_kaggle(root: Path, base: Path, stats: dict) -> Iterator[Candidate | Skip]:
    """Images under DATASET/<split>/<1..7>/; a labels CSV that disagrees with the folder skips."""
    count = 0
    for split in ("train", "test"):
        listed = _csv_labels(root, base, split)
        for class_dir in sorted(p for p in (base / split).iterdir() if p.is_dir()):
            for f in sorted(class_dir.iterdir()):
                if not f.is_file() or f.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                count += 1
                rel = f.relative_to(root).as_posix()
                label = _label(class_dir.name)
                if label is None:
                    yield Skip(rel, None, f"class folder {class_dir.name!r} outside 1..7")
                elif listed is not None and listed.get(f.name, class_dir.name) != class_dir.name:
                    yield Skip(rel, None, f"{split}_labels.csv says {listed[f.name]}, folder says "
                                          f"{class_dir.name}")
                else:
                    yield Candidate(source_id=rel, split=split, label=label,
                                    orig_label=class_dir.name, path=f)
    stats["rows"] = count


def scan(path: Path, stats: dict) -> Iterator[Candidate | Skip]:
    """Detect the layout under `path` (or `path/basic`) and scan it."""
    if not path.is_dir():
        raise InputError(f"{path}: not a folder; pass the RAF-DB basic/ folder")
    for root in (path, path / "basic"):
        if (root / LABEL_FILE).is_file():
            yield from scan_official(root, stats)
            return
    base = _kaggle_root(path)
    if base is not None:
        yield from scan_kaggle(path, base, stats)
        return
    raise InputError(f"{path}: not a RAF-DB layout; expected {LABEL_FILE} + Image/aligned/, or "
                     "DATASET/{train,test}/<1..7>/ with train_labels.csv")
