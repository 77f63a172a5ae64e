"""Any image tree: `<split>/<class>/*` (train, val/valid/validation, test, ...) or `<class>/*`.

`source_id` is the path relative to the root. Class folders are mapped through the taxonomy's
aliases; files under an unknown class folder are counted skips with the folder named.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from curate.core.errors import InputError
from curate.core.imageio import IMAGE_SUFFIXES
from curate.core.taxonomy import class_from_name, split_from_name
from curate.ingest.base import Candidate, Skip


def _subdirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def _layout(root: Path) -> list[tuple[str, Path]]:
    """(split, directory holding class folders) pairs, or InputError for a wrong layout."""
    top = _subdirs(root)
    splits = [(split_from_name(d.name), d) for d in top]
    if top and all(s is not None for s, _ in splits):
        return [(s, d) for s, d in splits]  # type: ignore[misc]
    if top and any(class_from_name(d.name) for d in top):
        return [("train", root)]
    names = ", ".join(d.name for d in top[:8]) or "no folders"
    raise InputError(f"{root}: expected <split>/<class>/images or <class>/images folders, "
                     f"found {names}")


def scan_tree(root: Path, stats: dict) -> Iterator[Candidate | Skip]:
    """Yield a Candidate per image file (sorted, so runs are deterministic)."""
    count = 0
    for split, base in _layout(root):
        for class_dir in _subdirs(base):
            label = class_from_name(class_dir.name)
            for f in sorted(class_dir.rglob("*")):
                if not f.is_file() or f.name.startswith("."):
                    continue
                rel = f.relative_to(root).as_posix()
                count += 1
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    yield Skip(rel, None, f"not an image file ({f.suffix or 'no suffix'})")
                elif label is None:
                    yield Skip(rel, None, f"unknown class folder {class_dir.name!r}")
                else:
                    yield Candidate(source_id=rel, split=split, label=label,
                                    orig_label=class_dir.name, path=f)
    stats["rows"] = count
    if count == 0:
        raise InputError(f"{root}: no image files found")


def scan(path: Path, stats: dict) -> Iterator[Candidate | Skip]:
    if not path.is_dir():
        raise InputError(f"{path}: not a folder; `ingest folder` takes an image tree")
    yield from scan_tree(path, stats)
