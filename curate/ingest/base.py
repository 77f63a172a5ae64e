"""What every ingest source shares: candidates, skips, the batched writer and the report.

A source module only *scans* (parses its layout into `Candidate`s and `Skip`s, no DB).
`run_ingest` turns candidates into samples in chunks: it skips `source_id`s already in the
dataset (idempotent re-runs) unless their file is gone (then it writes or finds it again and
points the sample at it: `relinked`), writes pixel rows as PNG atomically, probes image files,
and inserts each chunk with one batched call, so an interrupted run leaves whole samples only.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from curate.core import store
from curate.core.imageio import BadImage, probe, write_png_atomic
from curate.core.progress import task

log = logging.getLogger(__name__)

CHUNK = 2000


@dataclass(frozen=True)
class Skip:
    """A row or file that was not ingested, and why."""

    file: str
    row: int | None
    reason: str


@dataclass
class Candidate:
    """A sample-to-be. Exactly one of `decode` (pixels to write) or `path` (a file) is set."""

    source_id: str
    split: str
    label: str
    orig_label: str
    path: Path | None = None
    decode: Callable[[], np.ndarray] | None = None
    row: int | None = None
    file: str = ""  # for skip reports: the CSV name, or "" to use `source_id` (a relative path)


@dataclass
class IngestReport:
    source: str
    path: str
    dataset: str
    added: int = 0
    already_present: int = 0
    relinked: int = 0  # samples already present whose lost file was written or found again
    skipped: list[Skip] = field(default_factory=list)
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def noop(self) -> bool:
        """The input was unchanged since its last full ingest: nothing was read or written."""
        return bool(self.info.get("unchanged"))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["skipped_count"] = len(self.skipped)
        return d


def _media_path(media: Path, source: str, source_id: str) -> Path:
    return media / source / f"{int(source_id):06d}.png" if source_id.isdigit() else (
        media / source / f"{source_id}.png")


def _materialize(c: Candidate, *, source: str, media: Path) -> store.SampleRecord | Skip:
    """Write or probe one candidate; a bad input becomes a Skip (a failed write is raised)."""
    try:
        if c.decode is not None:
            return _write_pixels(c, c.decode(), source, media)
        assert c.path is not None
        info = probe(c.path)
        return store.SampleRecord(str(c.path), source, c.source_id, c.split, c.label,
                                  c.orig_label, info.width, info.height, info.channels,
                                  info.size_bytes, info.mime_type)
    except (BadImage, ValueError) as e:
        return Skip(c.file or c.source_id, c.row, str(e))


def _write_pixels(c: Candidate, pixels: np.ndarray, source: str,
                  media: Path) -> store.SampleRecord:
    """Write a decoded row as PNG (a failed write names its file: `write_png_atomic`).
    Nothing is committed for its chunk; a re-run rewrites it."""
    out = _media_path(media, source, c.source_id)
    size = write_png_atomic(pixels, out)
    h, w = pixels.shape[:2]
    ch = 1 if pixels.ndim == 2 else pixels.shape[2]
    return store.SampleRecord(str(out), source, c.source_id, c.split, c.label, c.orig_label,
                              w, h, ch, size, "image/png")


def _chunks(items: Iterable[Candidate | Skip], size: int) -> Iterator[list[Candidate | Skip]]:
    chunk: list[Candidate | Skip] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_ingest(ds: Any, source: str, items: Iterable[Candidate | Skip], report: IngestReport,
               media: Path, *, total: int | None = None, workers: int = 2,
               progress: bool = True) -> IngestReport:
    """Add the scanned candidates of one source to `ds`, chunk by chunk.

    Decoding, PNG writing and image probing run in `workers` processes while this process
    scans the next chunk and inserts the previous one (threads gain nothing here: the work
    holds the GIL). A chunk's samples are inserted only after all its files are written, so
    the insert is the commit point: files of uncommitted samples are simply rewritten on
    re-run, and an interrupted run leaves whole samples only.
    """
    t0 = time.perf_counter()
    files = store.source_files(ds, source)
    present = set(files)  # also: seen earlier in this input
    lost = lost_files(files)
    relink = set(lost)  # a lost file's sample is pointed at the new file, not added again
    if lost:
        log.info("%d %s samples have lost their files; writing or finding them again",
                 len(lost), source)
    work = partial(_materialize, source=source, media=media)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max(1, workers), mp_context=ctx) as pool, \
            task(f"ingest {source}", total, progress) as tick:
        pending: tuple[Future, int] | None = None
        for chunk in _chunks(items, CHUNK):
            todo: list[Candidate] = []
            for item in chunk:
                if isinstance(item, Skip):
                    report.skipped.append(item)
                elif item.source_id in lost:
                    lost.discard(item.source_id)
                    todo.append(item)
                elif item.source_id in present:
                    report.already_present += 1
                else:
                    present.add(item.source_id)
                    todo.append(item)
            submitted = (pool.submit(_materialize_all, work, todo), len(chunk))
            if pending is not None:
                _commit(ds, report, *pending, tick, relink)
            pending = submitted
        if pending is not None:
            _commit(ds, report, *pending, tick, relink)
    report.seconds = round(time.perf_counter() - t0, 3)
    return report


def lost_files(files: dict[str, str]) -> set[str]:
    """The source_ids of `store.source_files` whose file is gone (a deleted workspace, a moved
    folder): ingest writes or finds those files again and points the samples at them."""
    return {sid for sid, path in files.items() if not os.path.exists(path)}


def _materialize_all(work: Callable[[Candidate], store.SampleRecord | Skip],
                     todo: list[Candidate]) -> list[store.SampleRecord | Skip]:
    return [work(c) for c in todo]


def _commit(ds: Any, report: IngestReport, future: Future, n: int, tick: Callable,
            relink: set[str]) -> None:
    """Insert a chunk's new samples; point those in `relink` (present, their file lost) at
    the file written or found again."""
    done = future.result()
    report.skipped.extend(d for d in done if isinstance(d, Skip))
    records = [d for d in done if isinstance(d, store.SampleRecord)]
    report.relinked += store.relink_records(ds, [r for r in records if r.source_id in relink])
    report.added += store.add_records(ds, [r for r in records if r.source_id not in relink])
    tick(n)
