"""Export writers: one function per format, each writing into a (temporary) folder.

Rows come in sorted and named (see `name_rows`); writers return the rows they wrote with the
path relative to the output folder. A row whose image cannot be read is a counted failure.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from curate.core.imageio import IMAGE_FORMATS, IMAGE_SUFFIXES
from curate.core.progress import task
from curate.core.taxonomy import CLASS_INDEX

log = logging.getLogger(__name__)

FER_SIDE = 48
FER_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
MANIFEST_COLUMNS = ("path", "label", "split", "source", "source_id", "parents", "transforms",
                    "soft_label", "ferplus_votes", "crowd_role")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PIXEL_TEXT = [str(v) for v in range(256)]


@dataclass(frozen=True)
class Row:
    """One image to export."""

    id: str
    src: str  # the image file the view points at
    label: str
    split: str
    source: str
    source_id: str
    parents: str = ""
    transforms: str = ""
    soft_label: str = ""  # `curate apply --soften` target: 7 probabilities, class order, ";"
    ferplus_votes: str = ""  # the sample's FER+ crowd votes (`schema.encode_votes`), to score on
    crowd_role: str = ""  # schema.CROWD_ROLE: "calibrate" votes shaped the curation, never score
    name: str = ""  # stable output stem
    path: str = ""  # relative path in the export, once written


@dataclass
class WriteResult:
    rows: list[Row]
    failures: list[tuple[str, str]]  # (source/source_id, reason)


def stable_stem(source: str, source_id: str) -> str:
    """`<source>_<source_id>`, sanitised; numeric ids zero-padded so names sort by row."""
    sid = source_id
    if sid.isdigit():
        sid = f"{int(sid):06d}"
    elif Path(sid).suffix.lower() in IMAGE_SUFFIXES:
        sid = sid[: -len(Path(sid).suffix)]
    return f"{source}_{_UNSAFE.sub('_', sid).strip('._-')}"


def name_rows(rows: Sequence[Row]) -> list[Row]:
    """Sort rows (split, label, source, source_id) and give each a unique stable stem."""
    out, seen = [], set()
    for r in sorted(rows, key=lambda r: (r.split, r.label, r.source, r.source_id)):
        stem = stable_stem(r.source, r.source_id)
        if (r.split, r.label, stem) in seen:  # two ids that sanitise alike
            stem += "_" + hashlib.sha1(f"{r.source}/{r.source_id}".encode()).hexdigest()[:8]
        seen.add((r.split, r.label, stem))
        out.append(replace(r, name=stem))
    return out


def _read(path: str, gray: bool = False) -> Image.Image:
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        if gray:
            return im.convert("L")
        return im.convert("L" if im.mode in ("L", "1", "I", "I;16") else "RGB")


def _verified_png(path: str) -> bool:
    """Whether `path` is a PNG whose chunks check out (`verify`, their CRCs: ~0.04 ms a face,
    14% of a copy); raises on a missing, truncated or corrupt file, so it becomes a listed
    failure, not a crash in training. Another format: False, unchecked (it is decoded anyway)."""
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        if im.format != "PNG":
            return False
        im.verify()
        return True


def _copy_png(row: Row, root: Path) -> Row:
    """A verified PNG source is copied byte for byte; any other format decoded to PNG."""
    rel = f"{row.split}/{row.label}/{row.name}.png"
    dst = root / rel
    if _verified_png(row.src):
        shutil.copyfile(row.src, dst)
    else:
        _read(row.src).save(dst, format="PNG", compress_level=1)
    return replace(row, path=rel)


def _readable(row: Row) -> Row:
    """The row, once its image is known to be readable (raises otherwise)."""
    if not _verified_png(row.src):
        _read(row.src)
    return row


def _parallel(fn: Callable[[Row], Any], rows: Sequence[Row], workers: int, label: str,
              progress: bool) -> tuple[list[Any], list[tuple[str, str]]]:
    """Run `fn` over rows in threads; per-row errors become failures. Keeps the row order."""
    def safe(r: Row) -> Any:
        try:
            return fn(r)
        except (OSError, ValueError, SyntaxError) as e:
            return e

    done, failures = [], []
    with ThreadPoolExecutor(max(1, workers)) as pool, task(label, len(rows), progress) as tick:
        for r, res in zip(rows, pool.map(safe, rows, chunksize=64), strict=True):
            if isinstance(res, Exception):
                failures.append((f"{r.source}/{r.source_id}", f"{type(res).__name__}: {res}"))
            else:
                done.append(res)
            tick()
    return done, failures


def write_imagefolder(rows: Sequence[Row], root: Path, workers: int = 4,
                      progress: bool = True) -> WriteResult:
    """<split>/<class>/<stem>.png; PNG sources are copied byte for byte, others converted."""
    for split, label in {(r.split, r.label) for r in rows}:
        (root / split / label).mkdir(parents=True, exist_ok=True)
    done, failures = _parallel(lambda r: _copy_png(r, root), rows, workers, "export", progress)
    return WriteResult(done, failures)


def write_hf(rows: Sequence[Row], root: Path, workers: int = 4,
             progress: bool = True) -> WriteResult:
    """Hugging Face `imagefolder`: the image tree plus a metadata.csv in each split folder."""
    res = write_imagefolder(rows, root, workers, progress)
    by_split: dict[str, list[Row]] = {}
    for r in res.rows:
        by_split.setdefault(r.split, []).append(r)
    for split, rs in by_split.items():
        with open(root / split / "metadata.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["file_name", "label", "source", "source_id", "parents", "transforms"])
            for r in rs:
                w.writerow([r.path.split("/", 1)[1], r.label, r.source, r.source_id, r.parents,
                            r.transforms])
    return res


def _fer_pixels(row: Row) -> str:
    im = _read(row.src, gray=True)
    if im.size != (FER_SIDE, FER_SIDE):
        im = im.resize((FER_SIDE, FER_SIDE), Image.Resampling.LANCZOS)
    return " ".join([_PIXEL_TEXT[v] for v in np.asarray(im).ravel().tolist()])


def write_fer2013_csv(rows: Sequence[Row], root: Path, workers: int = 4,
                      progress: bool = True) -> WriteResult:
    """fer2013.csv (emotion,pixels,Usage): 48x48 grayscale, resized when needed."""
    root.mkdir(parents=True, exist_ok=True)
    pixels, failures = _parallel(lambda r: (r, _fer_pixels(r)), rows, workers, "export", progress)
    done = []
    with open(root / "fer2013.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for n, (r, px) in enumerate(pixels):
            w.writerow([CLASS_INDEX[r.label], px, FER_USAGE[r.split]])
            done.append(replace(r, path=f"fer2013.csv#{n}"))
    return WriteResult(done, failures)


def write_fiftyone(rows: Sequence[Row], root: Path, view: Any, workers: int = 4,
                   progress: bool = True) -> WriteResult:
    """FiftyOne's own format (`fo.types.FiftyOneDataset`, media included) of the same samples,
    those whose image is readable (FiftyOne copies files as they are)."""
    from curate.core import store

    present, failures = _parallel(_readable, rows, workers, "check images", progress)
    keep = store.subset(view, [r.id for r in present])
    keep.export(export_dir=str(root), dataset_type=store.fo().types.FiftyOneDataset,
                export_media=True)
    paths = _fiftyone_paths(root)
    done = [replace(r, path=paths.get(r.id, "")) for r in present]
    return WriteResult(done, failures)


def _fiftyone_paths(root: Path) -> dict[str, str]:
    """sample id -> exported media path, from the export's samples.json."""
    with open(root / "samples.json", encoding="utf-8") as fh:
        samples = json.load(fh).get("samples", [])
    out = {}
    for s in samples:
        sid = s.get("_id")
        sid = sid.get("$oid") if isinstance(sid, dict) else sid
        out[str(sid)] = s.get("filepath", "")
    return out


def write_manifest(rows: Sequence[Row], root: Path) -> Path:
    path = root / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(MANIFEST_COLUMNS)
        for r in rows:
            w.writerow([r.path, r.label, r.split, r.source, r.source_id, r.parents, r.transforms,
                        r.soft_label, r.ferplus_votes, r.crowd_role])
    return path
