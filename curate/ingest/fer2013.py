"""FER-2013: the challenge CSV (`fer2013.csv[.gz]`, `icml_face_data.csv`, Kaggle `train.csv`)
or the folder layout `train/<class>/*.jpg`, `test/<class>/*.jpg`.

`source_id` is the 0-based data-row number of the CSV as given (blank lines are not rows; never
a content hash, so byte-identical faces stay separate samples), or the path relative to the root
for folders. A UTF-8 byte-order mark (Excel's "CSV UTF-8") is read past.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import warnings
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np

from curate.core.errors import InputError
from curate.core.taxonomy import FER2013_IDS, FER2013_USAGE
from curate.ingest.base import Candidate, Skip
from curate.ingest.folder import scan_tree

SIDE = 48
NPIX = SIDE * SIDE
# FER-2013's file-name prefixes in the folder layout say which challenge split a face was in.
_PREFIX_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}

csv.field_size_limit(sys.maxsize)
warnings.filterwarnings("ignore", "string or file could not be read to its end", DeprecationWarning)


def _open_text(path: Path) -> io.TextIOBase:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open("r", encoding="utf-8-sig", newline="")


def decode_pixels(text: str) -> np.ndarray:
    """Parse a row's `pixels` string into a 48x48 uint8 array; ValueError names the problem.

    `np.fromstring(sep=" ")` parses in C (5x faster than split + array) and stops at the first
    token that is not a whole number, so a parsed count equal to the token count proves
    every token numeric.
    """
    tokens = len(text.split())
    if tokens != NPIX:
        raise ValueError(f"{tokens} pixel values, expected {NPIX}")
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:
        values = np.empty(0, np.int64)
    if values.size != NPIX:
        raise ValueError("non-numeric pixel values")
    if values.min() < 0 or values.max() > 255:
        bad = int(values.max()) if values.max() > 255 else int(values.min())
        raise ValueError(f"pixel value {bad} outside 0..255")
    return values.astype(np.uint8).reshape(SIDE, SIDE)


def _columns(header: list[str], path: Path) -> tuple[int, int, int | None]:
    names = [h.strip().lower() for h in header]
    if "pixels" not in names:
        raise InputError(f"{path}: no 'pixels' column (header: {','.join(header)}); expected the "
                         "FER-2013 challenge CSV with emotion,pixels[,Usage]")
    if "emotion" not in names:
        raise InputError(f"{path}: no 'emotion' column: this looks like Kaggle's unlabelled "
                         "test.csv; ingest fer2013.csv, icml_face_data.csv or train.csv instead")
    usage = names.index("usage") if "usage" in names else None
    return names.index("emotion"), names.index("pixels"), usage


def scan_csv(path: Path, stats: dict) -> Iterator[Candidate | Skip]:
    """Yield one Candidate (or Skip) per data row. `stats['rows']` ends as the row count."""
    name = path.name
    with _open_text(path) as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError(f"{path}: empty file") from None
        except (UnicodeDecodeError, OSError, EOFError) as e:
            raise InputError(f"{path}: not a readable CSV ({e})") from None
        i_emo, i_pix, i_use = _columns(header, path)
        width = max(i_emo, i_pix, i_use or 0) + 1
        row = -1
        try:
            for row, fields in enumerate(f for f in reader if f):  # a blank line is no row
                stats["rows"] = row + 1
                yield _row(fields, row, name, width, i_emo, i_pix, i_use)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
            raise InputError(f"{path}: file is corrupt or truncated {_where(row)} "
                             f"({type(e).__name__}: {e})") from None


def _where(last_row: int) -> str:
    """Where reading broke, given the last data row read (-1: none)."""
    if last_row < 0:
        return "before the first data row; nothing was ingested"
    return f"after data row {last_row}; rows before it were ingested"


def _row(fields: list[str], row: int, name: str, width: int, i_emo: int, i_pix: int,
         i_use: int | None) -> Candidate | Skip:
    if len(fields) < width:
        return Skip(name, row, f"{len(fields)} columns, expected {width}")
    emo = fields[i_emo].strip()
    if not emo.isdigit() or int(emo) not in FER2013_IDS:
        return Skip(name, row, f"emotion {emo!r} outside 0..6")
    split = "train"
    if i_use is not None:
        usage = fields[i_use].strip()
        if usage not in FER2013_USAGE:
            return Skip(name, row, f"unknown Usage {usage!r} (expected Training, PublicTest, "
                                   "PrivateTest)")
        split = FER2013_USAGE[usage]
    pixels = fields[i_pix]
    return Candidate(source_id=str(row), split=split, label=FER2013_IDS[int(emo)],
                     orig_label=emo, decode=partial(decode_pixels, pixels), row=row,
                     file=name)


def _split_from_filename(path: Path, folder_split: str) -> str:
    prefix = path.name.split("_", 1)[0]
    return _PREFIX_SPLIT.get(prefix, folder_split)


def scan(path: Path, stats: dict) -> Iterator[Candidate | Skip]:
    """Dispatch on what `path` is: a CSV file or the folder layout."""
    if path.is_dir():
        for item in scan_tree(path, stats):
            if isinstance(item, Candidate) and item.path is not None:
                item.split = _split_from_filename(item.path, item.split)
            yield item
    else:
        yield from scan_csv(path, stats)
