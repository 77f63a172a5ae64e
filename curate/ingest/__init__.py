"""`curate ingest`: bring FER-2013, RAF-DB, FER+ votes or any image tree into the dataset."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.core import runs, schema, store
from curate.core.errors import InputError
from curate.core.imageio import BadImage, read_gray
from curate.core.options import option
from curate.core.workspace import Workspace, sha256_file, write_json_atomic
from curate.ingest import fer2013, ferplus, folder, rafdb
from curate.ingest.base import Candidate, IngestReport, Skip, lost_files, run_ingest

log = logging.getLogger(__name__)

Scanner = Callable[[Path, dict], Iterator[Candidate | Skip]]
# source name -> scanner: the sources that add samples.
SCANNERS: dict[str, Scanner] = {"fer2013": fer2013.scan, "rafdb": rafdb.scan,
                                "folder": folder.scan}
# How many of a changed CSV's rows that are samples already have their pixels checked against
# them (`_check_same_rows`; every such row has its label checked).
VERIFY_ROWS = 512
FERPLUS = "ferplus"  # attaches votes to FER-2013 samples instead of adding samples
SOURCES = (*SCANNERS, FERPLUS)  # every `curate ingest <source>` (the CLI's choices)


@dataclass(frozen=True, kw_only=True)
class IngestConfig:
    """One `curate ingest <source> PATH` (each option declared once: curate.core.options)."""

    source: str = option(help="What the input is (the `curate ingest` subcommand).",
                         choices=SOURCES)
    path: Path = option(help="File or folder to ingest.", argument=True)
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    workers: int = option(2, help="Threads decoding/writing images.")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise InputError(f"unknown source {self.source!r}; choose one of {', '.join(SOURCES)}")
        if not self.path.exists():
            raise InputError(f"{self.path}: no such file or folder")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")


def ingest(cfg: IngestConfig) -> tuple[IngestReport, Path]:
    """Run one ingest; returns the report and the path of its JSON copy under reports/."""
    ws = Workspace.for_dataset(cfg.dataset, cfg.workspace)
    ds = store.load_dataset(cfg.dataset, create=True)
    path = cfg.path.resolve()
    report = IngestReport(source=cfg.source, path=str(path), dataset=cfg.dataset)
    t0 = time.perf_counter()
    if cfg.source == FERPLUS:
        ferplus.attach(ds, path, report)
    else:
        fingerprint = _fingerprint(path)  # of the input as read, before the (long) ingest
        if not _unchanged(ds, cfg.source, fingerprint, path, report):
            _scan_and_add(ds, cfg, path, fingerprint, report, ws.media)
    report.seconds = round(time.perf_counter() - t0, 3)
    store.record_run(ds, runs.INGEST, {"source": cfg.source, "path": str(path),
                                    "added": report.added, "skipped": len(report.skipped),
                                    "already_present": report.already_present,
                                    "relinked": report.relinked,
                                    "seconds": report.seconds})
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = write_json_atomic(report.to_dict(), ws.reports / f"ingest-{cfg.source}-{stamp}.json")
    return report, out


def _scan_and_add(ds: Any, cfg: IngestConfig, path: Path, fingerprint: str,
                  report: IngestReport, media: Path) -> None:
    stats: dict = {}
    _check_same_rows(ds, cfg.source, path, fingerprint)
    total = _count_rows(path) if cfg.progress else None
    run_ingest(ds, cfg.source, SCANNERS[cfg.source](path, stats), report, media,
               total=total, workers=cfg.workers, progress=cfg.progress)
    _remember_source(ds, cfg.source, path, stats, fingerprint, report)
    report.info["rows"] = stats.get("rows", 0)


def _count_rows(path: Path) -> int | None:
    """A cheap total for the progress bar (file count or line count); None when unknown."""
    if path.is_dir():
        return None
    if path.suffix == ".gz":
        return None
    with path.open("rb") as fh:
        return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b"")) - 1)


def _fingerprint(path: Path) -> str:
    """sha256 of a file, or of the (path, size, mtime) listing of a folder."""
    if not path.is_dir():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.relative_to(path).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n"
                     .encode())
    return h.hexdigest()


def _check_same_rows(ds: Any, source: str, path: Path, fingerprint: str) -> None:
    """Refuse, before anything is written, a CSV whose rows are not the ones this dataset holds.

    A CSV's samples are known by row number, so another file's row 0 would pass for this one's
    as "already present" (and FER+ votes, matched by row, would land on the wrong faces). A
    changed file is fine when it holds the same rows (gzipped, grown, a malformed row fixed):
    every row that is a sample already must carry its label, and an evenly spread VERIFY_ROWS
    of them its pixels (against the sample's PNG, where it is still there). One pass of the
    CSV, only when its fingerprint changed."""
    prev = (ds.info.get("sources") or {}).get(source)
    if (not prev or prev.get("kind") != "csv" or path.is_dir()
            or prev.get("fingerprint") == fingerprint):
        return
    sids, files, labels = ds.match({schema.SOURCE: source}).values(
        [schema.SOURCE_ID, "filepath", schema.ORIG_LABEL])
    held = {sid: (file, label) for sid, file, label in zip(sids, files, labels, strict=True)}
    step, seen = max(1, len(held) // VERIFY_ROWS), 0
    for item in SCANNERS[source](path, {}):
        sid = str(item.row)
        if sid not in held:
            continue
        file, label = held[sid]
        why = None
        if isinstance(item, Skip):
            why = f"it is malformed here ({item.reason})"
        elif item.orig_label != label:
            why = f"label {item.orig_label} here, {label} there"
        elif seen % step == 0:
            why = _pixels_differ(item, file)
        seen += 1
        if why is not None:
            raise InputError(f"{path}: data row {sid} is not the {source} sample of row {sid} "
                             f"already in dataset {ds.name!r} (from {Path(prev['path']).name}): "
                             f"{why}. A CSV's rows are known by number, so this is another file: "
                             "ingest it into another --dataset")


def _pixels_differ(item: Candidate, file: str) -> str | None:
    """Why a CSV row's pixels are not its sample's (None: the same, or the sample's file is gone:
    `run_ingest` writes it again from this row)."""
    assert item.decode is not None
    try:
        pixels = item.decode()
    except ValueError as e:
        return f"it is malformed here ({e})"
    try:
        stored = read_gray(file)
    except (BadImage, OSError):
        return None
    return None if stored.shape == pixels.shape and (stored == pixels).all() else "other pixels"


def _unchanged(ds: Any, source: str, fingerprint: str, path: Path,
               report: IngestReport) -> bool:
    """True (and the report filled) when the same input (`fingerprint`) was fully ingested and
    is all there."""
    prev = (ds.info.get("sources") or {}).get(source)
    if not prev or prev.get("fingerprint") != fingerprint:
        return False
    files = store.source_files(ds, source)
    present = len(files)
    if present != prev.get("samples") or lost_files(files):  # lost: e.g. a deleted workspace
        return False
    report.already_present = present
    report.info.update(unchanged=True, rows=prev.get("rows", 0), skipped_before=prev.get("skipped"))
    log.info("%s: unchanged since its last ingest (%d samples present); nothing to do", path, present)
    return True


def _remember_source(ds: Any, source: str, path: Path, stats: dict, fingerprint: str,
                     report: IngestReport) -> None:
    """What a no-op re-run and FER+ (rows matched by position) need: input, rows, fingerprint."""
    ds.reload()
    sources = dict(ds.info.get("sources") or {})
    sources[source] = {
        "path": str(path), "kind": "folder" if path.is_dir() else "csv",
        "rows": stats.get("rows", 0), "fingerprint": fingerprint,
        "samples": len(ds.match({schema.SOURCE: source})), "skipped": len(report.skipped),
    }
    ds.info["sources"] = sources
    ds.save()
