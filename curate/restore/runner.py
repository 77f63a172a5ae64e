"""The per-image work of `curate restore`: read, restore in batches, write atomically, record.

Works on (id, source path, output path) items and a `Recorder` that writes finished samples to
the store in bulk, so an interrupted run keeps every image it finished (recorded at the next
flush, or in `finally` on Ctrl-C / an exception) and a re-run skips them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.imageio import BadImage, read_gray, write_png_atomic
from curate.core.schema import RESTORE_METHOD, RESTORE_WEIGHTS_SHA256, RESTORED_FILEPATH
from curate.restore import classical

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Item:
    id: str
    src: str
    dst: Path


@dataclass(frozen=True)
class Skipped:
    """An image that could not be restored, and why."""

    id: str
    file: str
    reason: str


@dataclass
class Outcome:
    restored: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    batch_size: int | None = None


class Recorder:
    """Buffers finished (id -> output) pairs and writes them with `set_values` in bulk."""

    def __init__(self, ds: Any, method: str, sha256: str | None, every_n: int = 2048,
                 every_s: float = 20.0) -> None:
        self.ds, self.method, self.sha256 = ds, method, sha256
        self.every_n, self.every_s = every_n, every_s
        self.pending: dict[str, str] = {}
        self.last = time.monotonic()

    def add(self, sample_id: str, dst: Path) -> None:
        self.pending[sample_id] = str(dst)
        if len(self.pending) >= self.every_n or time.monotonic() - self.last > self.every_s:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            ids = list(self.pending)
            self.ds.set_values(RESTORED_FILEPATH, self.pending, key_field="id")
            self.ds.set_values(RESTORE_METHOD, dict.fromkeys(ids, self.method), key_field="id")
            self.ds.set_values(RESTORE_WEIGHTS_SHA256, dict.fromkeys(ids, self.sha256),
                               key_field="id")
            log.debug("recorded %d restored samples", len(ids))
            self.pending = {}
        self.last = time.monotonic()


def _read(item: Item) -> np.ndarray | str:
    """The image, or the skip reason."""
    try:
        return read_gray(item.src)
    except FileNotFoundError:
        return "file not found"
    except (OSError, SyntaxError, ValueError, BadImage) as e:
        return f"unreadable or truncated image ({e})"


def _skip(item: Item, reason: str) -> Skipped:
    return Skipped(item.id, item.src, reason)


def _chunks(items: Sequence[Item], n: int) -> Iterator[Sequence[Item]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def run_classical(items: Sequence[Item], rec: Recorder, *, size: int, method: str, color: str,
                  unsharp: bool, workers: int = 2, tick: Callable[[int], None] = lambda n: None,
                  chunk: int = 256) -> Outcome:
    """Lanczos/bicubic upsampling over threads (PIL releases the GIL in decode/resize/encode)."""
    out = Outcome()

    def one(item: Item) -> str | None:
        img = _read(item)
        if isinstance(img, str):
            return img
        write_png_atomic(classical.upsample(img, size, method, color, unsharp), item.dst)
        return None

    with ThreadPoolExecutor(max(1, workers)) as pool:
        try:
            for part in _chunks(items, chunk):
                for item, reason in zip(part, pool.map(one, part), strict=True):
                    if reason is None:
                        rec.add(item.id, item.dst)
                        out.restored += 1
                    else:
                        out.skipped.append(_skip(item, reason))
                tick(len(part))
        finally:
            rec.flush()
    return out


def run_model(items: Sequence[Item], rec: Recorder, make_restorer: Callable[[], Any], *,
              size: int, color: str, batch_size: int,
              tick: Callable[[int], None] = lambda n: None) -> Outcome:
    """A network over batches, built on the first readable batch (a run with only unreadable
    images left loads no weights); the restorer halves its batch on out-of-memory."""
    out = Outcome()
    restorer = None
    try:
        for part in _chunks(items, batch_size):
            good, imgs = [], []
            for item in part:
                img = _read(item)
                if isinstance(img, str):
                    out.skipped.append(_skip(item, img))
                else:
                    good.append(item)
                    imgs.append(img)
            if good and restorer is None:
                restorer = make_restorer()
            for item, res in zip(good, restorer.restore(imgs, size, color) if good else [],
                                 strict=True):
                write_png_atomic(res, item.dst)
                rec.add(item.id, item.dst)
                out.restored += 1
            tick(len(part))
    finally:
        rec.flush()
    out.batch_size = getattr(restorer, "batch_size", batch_size)
    return out
