"""The synthesis stage's reads and writes of the dataset (bulk `values`, one batched insert)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from augment.synth.gate import phashes
from augment.synth.render import TargetFormat, target_from_metadata
from curate.core import hashing, schema, store
from curate.core.errors import StoreError
from curate.core.imageio import BadImage, read_gray
from curate.core.progress import task
from curate.core.workspace import write_json_atomic

log = logging.getLogger(__name__)

_HEX_HASH = re.compile(r"^[0-9a-fA-F]{16}$")  # `hashing.to_hex`'s form of a 64-bit pHash


@dataclass(frozen=True, kw_only=True)
class Admitted:
    """An image that passed the gate, written to `filepath`, to be inserted as a train sample."""

    filepath: str
    cls: str
    source_id: str  # <model short hash>/<class>/<seed>
    width: int
    height: int
    channels: int
    size_bytes: int
    synthetic: dict[str, Any]  # the provenance (schema.SYNTHETIC)


def real_view(ds: Any) -> Any:
    return ds.match(schema.real())


def balance_plan(ds: Any) -> dict[str, int]:
    """How many more synthetic train images each class needs now, per `curate balance`'s plan.

    The plan's train rows give the class's synthetic total (`synthetic`); what the dataset holds
    now is subtracted, so a plan made before earlier synth runs is not filled twice. A plan
    without rows falls back to its `synthetic_needed`.
    """
    plan = (ds.info or {}).get(schema.BALANCE_PLAN)
    if not plan or "synthetic_needed" not in plan:
        raise StoreError(f"dataset {ds.name!r} has no balance plan: run `curate balance --dry-run`"
                         " (or `--yes`) first, or pass --classes and --per-class")
    rows = [r for r in plan.get("rows") or [] if r.get("split") == "train" and "synthetic" in r]
    if not rows:
        return {str(c): int(n) for c, n in plan["synthetic_needed"].items()}
    labels = ds.match({schema.SOURCE: schema.SYNTHETIC_SOURCE, schema.SPLIT: "train"}).values(
        schema.LABEL_PATH)
    have = {c: labels.count(c) for c in set(labels)}
    return {str(r["cls"]): max(0, int(r["synthetic"]) - have.get(r["cls"], 0)) for r in rows}


def target_format(ds: Any, size: int | None) -> TargetFormat:
    """The format of the real train images (most common width, height, channels)."""
    view = real_view(ds).match({schema.SPLIT: "train"})
    w, h, c = view.values([f"{schema.METADATA}.width", f"{schema.METADATA}.height",
                           f"{schema.METADATA}.num_channels"])
    if not w:
        raise StoreError(f"dataset {ds.name!r} has no real train samples to learn the image "
                         "format from: ingest a dataset first")
    return target_from_metadata(w, h, c, size)


def decided_seeds(ds: Any, rejected_dir: Path, short_hash: str, cls: str) -> tuple[set[int], int]:
    """(seeds already admitted or rejected for this model and class, number admitted)."""
    prefix = f"{short_hash}/{cls}/"
    ids = ds.match({schema.SOURCE: schema.SYNTHETIC_SOURCE}).values(schema.SOURCE_ID)
    admitted = {int(s[len(prefix):]) for s in ids if s.startswith(prefix)}
    rejected = {int(p.stem.split("_")[-1])
                for p in (rejected_dir / cls).glob(f"{short_hash}_*.json")}
    return admitted | rejected, len(admitted)


def _from_hex(value: Any) -> int | None:
    """A stored pHash (16 hex digits) as an int; None when absent or not one."""
    if not isinstance(value, str) or not _HEX_HASH.match(value):
        return None
    return int(hashing.from_hex([value])[0])


def _hash_files(paths: Sequence[str], progress: bool) -> list[int | None]:
    """pHash of each image file; None where it cannot be read."""
    images: list[np.ndarray | None] = []
    with task("hash real images", len(paths), progress and len(paths) > 500) as tick:
        for path in paths:
            try:
                images.append(read_gray(path))
            except (BadImage, OSError, ValueError):
                images.append(None)
            tick()
    hashes = phashes([img for img in images if img is not None])
    found = iter(hashes.tolist())
    return [None if img is None else int(next(found)) for img in images]


def real_hashes(ds: Any, cache: Path, progress: bool) -> tuple[np.ndarray, list[str]]:
    """pHash of every real (train/val/test) image: the `phash` field written by `curate clean`
    when present, else computed once and cached in `cache` (keyed by sample id and filepath)."""
    view = real_view(ds)
    has_field = schema.PHASH in view.get_field_schema()
    names = ["id", schema.FILEPATH] + ([schema.PHASH] if has_field else [])
    cols = view.values(names)
    ids, paths = cols[0], cols[1]
    stored = [_from_hex(v) for v in cols[2]] if has_field else [None] * len(ids)
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    missing = [k for k, h in enumerate(stored)
               if h is None and cached.get(ids[k], [None])[0] != paths[k]]
    fresh = dict(zip(missing, _hash_files([paths[k] for k in missing], progress),
                     strict=True)) if missing else {}
    out, keep = [], []
    for k, sid in enumerate(ids):
        h = stored[k]
        if h is None and k in fresh:
            h = fresh[k]
        elif h is None and sid in cached:
            h = _from_hex(cached[sid][1])
        if h is not None:
            out.append(h)
            keep.append(k)
    hashes = np.asarray(out, dtype=np.uint64)
    if missing:
        write_json_atomic({ids[k]: [paths[k], hx] for k, hx in zip(keep, hashing.to_hex(hashes),
                                                                   strict=True)}, cache)
    log.info("real image hashes: %d (%d computed now)", len(out), len(missing))
    return hashes, [ids[k] for k in keep]


def add_synthetic(ds: Any, rows: Sequence[Admitted]) -> int:
    """Insert admitted images as train samples with one batched insert; returns how many."""
    if not rows:
        return 0
    fo = store.fo()
    if schema.SYNTHETIC not in ds.get_field_schema():
        ds.add_sample_field(schema.SYNTHETIC, fo.DictField)
    samples = []
    for r in rows:
        meta = fo.ImageMetadata(width=r.width, height=r.height, num_channels=r.channels,
                                size_bytes=r.size_bytes, mime_type="image/png")
        samples.append(fo.Sample(**{
            schema.FILEPATH: r.filepath, schema.METADATA: meta, schema.TAGS: [schema.SYNTHETIC_TAG],
            schema.LABEL: fo.Classification(label=r.cls), schema.ORIG_LABEL: r.cls,
            schema.SOURCE: schema.SYNTHETIC_SOURCE, schema.SOURCE_ID: r.source_id,
            schema.SPLIT: "train", schema.SYNTHETIC: r.synthetic}))
    return store.insert_samples(ds, samples)
