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


class BatchRestore:
    """Restores one batch of items: reads each, restores, writes the output atomically; yields
    each item's skip reason (None: restored). Both engines call it: `run` in this process,
    `RayRestore` on Ray actors.

    Classical methods run over `threads` (PIL releases the GIL in decode/resize/encode); a
    network (`make_restorer`) is built on the first readable batch (a run with only unreadable
    images left loads no weights) and halves its batch on out-of-memory.
    """

    def __init__(self, *, size: int, method: str, color: str, unsharp: bool = False,
                 make_restorer: Callable[[], Any] | None = None, threads: int = 1) -> None:
        self.size, self.method, self.color, self.unsharp = size, method, color, unsharp
        self.make_restorer, self.restorer = make_restorer, None
        self.pool = ThreadPoolExecutor(threads) if make_restorer is None and threads > 1 else None

    def __call__(self, items: Sequence[Item]) -> Iterator[str | None]:
        """Each item's skip reason in order, as it finishes (a classical image at a time, a
        network's batch at once): an interrupted batch keeps the items already yielded."""
        if self.make_restorer is None:
            yield from (self.pool.map(self._classical, items) if self.pool
                        else map(self._classical, items))
            return
        imgs = [_read(item) for item in items]
        good = [i for i, img in enumerate(imgs) if not isinstance(img, str)]
        if good:
            if self.restorer is None:
                self.restorer = self.make_restorer()
            restored = self.restorer.restore([imgs[i] for i in good], self.size, self.color)
            for i, res in zip(good, restored, strict=True):
                write_png_atomic(res, items[i].dst)
        yield from (img if isinstance(img, str) else None for img in imgs)

    def _classical(self, item: Item) -> str | None:
        img = _read(item)
        if isinstance(img, str):
            return img
        write_png_atomic(classical.upsample(img, self.size, self.method, self.color,
                                            self.unsharp), item.dst)
        return None

    @property
    def batch_size(self) -> int | None:
        """The network's batch after any out-of-memory halving (None: classical, or not built)."""
        return getattr(self.restorer, "batch_size", None)

    def close(self) -> None:
        if self.pool:
            self.pool.shutdown()


def _record(out: Outcome, rec: Recorder, item: Item, reason: str | None) -> None:
    if reason:
        out.skipped.append(_skip(item, reason))
    else:
        rec.add(item.id, item.dst)
        out.restored += 1


def run(items: Sequence[Item], rec: Recorder, work: BatchRestore, *, chunk: int,
        tick: Callable[[int], None] = lambda n: None) -> Outcome:
    """The local engine: `work` over chunks of `items` in this process."""
    out = Outcome()
    try:
        for part in _chunks(items, chunk):
            for item, reason in zip(part, work(part), strict=True):
                _record(out, rec, item, reason)
            tick(len(part))
    finally:
        rec.flush()
        work.close()
    out.batch_size = work.batch_size
    return out


class RayRestore:
    """The Ray engine's actor: a `BatchRestore` built once per actor, over numpy batches of
    (id, src, dst); returns (id, reason) with reason "" when restored, and the network's batch
    after any out-of-memory halving (0: classical)."""

    def __init__(self, **settings: Any) -> None:
        self.work = BatchRestore(**settings)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [Item(str(i), str(s), Path(str(d)))
                 for i, s, d in zip(batch["id"], batch["src"], batch["dst"], strict=True)]
        reasons = [r or "" for r in self.work(items)]
        size = self.work.batch_size or 0
        return {"id": batch["id"], "reason": np.asarray(reasons, dtype=object),
                "batch_size": np.full(len(reasons), size, dtype=np.int64)}


def run_ray(items: Sequence[Item], rec: Recorder, settings: dict[str, Any], *, chunk: int,
            workers: int, num_gpus: float = 0.0,
            tick: Callable[[int], None] = lambda n: None) -> Outcome:
    """The Ray engine: `RayRestore(**settings)` on `workers` actors; this process records."""
    from curate.core.engine import ray_map

    out, by_id = Outcome(), {item.id: item for item in items}
    rows = {"id": np.asarray([i.id for i in items], dtype=object),
            "src": np.asarray([i.src for i in items], dtype=object),
            "dst": np.asarray([str(i.dst) for i in items], dtype=object)}
    try:
        for batch in ray_map(rows, RayRestore, settings, batch_size=chunk, workers=workers,
                             num_gpus=num_gpus):
            for sid, reason in zip(batch["id"], batch["reason"], strict=True):
                _record(out, rec, by_id[str(sid)], str(reason) or None)
            sizes = batch["batch_size"][batch["batch_size"] > 0]
            if len(sizes):  # the smallest batch any actor fell back to, as the local run records
                smallest = int(sizes.min())
                out.batch_size = min(out.batch_size or smallest, smallest)
            tick(len(batch["id"]))
    finally:
        rec.flush()
    return out
