"""The synthesis stage's reads and writes of the dataset (bulk `values`, one batched insert)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from augment.synth.gate import hex_to_int, phash
from augment.synth.render import TargetFormat, target_from_metadata
from curate.core import store
from curate.core.errors import StoreError
from curate.core.imageio import BadImage, read_gray
from curate.core.progress import task
from curate.core.workspace import write_json_atomic

log = logging.getLogger(__name__)

SOURCE = "synthetic"
NOT_REAL = ("synthetic", "augmented")


def real_view(ds: Any) -> Any:
    return ds.match({"source": {"$nin": list(NOT_REAL)}})


def balance_plan(ds: Any) -> dict[str, int]:
    """How many more synthetic train images each class needs now, per `curate balance`'s plan.

    The plan's train rows give the class's synthetic total (`synthetic`); what the dataset holds
    now is subtracted, so a plan made before earlier synth runs is not filled twice. A plan
    without rows falls back to its `synthetic_needed`.
    """
    plan = (ds.info or {}).get("balance_plan")
    if not plan or "synthetic_needed" not in plan:
        raise StoreError(f"dataset {ds.name!r} has no balance plan: run `curate balance --dry-run`"
                         " (or `--yes`) first, or pass --classes and --per-class")
    rows = [r for r in plan.get("rows") or [] if r.get("split") == "train" and "synthetic" in r]
    if not rows:
        return {str(c): int(n) for c, n in plan["synthetic_needed"].items()}
    labels = ds.match({"source": SOURCE, "split": "train"}).values("ground_truth.label")
    have = {c: labels.count(c) for c in set(labels)}
    return {str(r["cls"]): max(0, int(r["synthetic"]) - have.get(r["cls"], 0)) for r in rows}


def target_format(ds: Any, size: int | None) -> TargetFormat:
    """The format of the real train images (most common width, height, channels)."""
    view = real_view(ds).match({"split": "train"})
    w, h, c = view.values(["metadata.width", "metadata.height", "metadata.num_channels"])
    if not w:
        raise StoreError(f"dataset {ds.name!r} has no real train samples to learn the image "
                         "format from: ingest a dataset first")
    return target_from_metadata(w, h, c, size)


def decided_seeds(ds: Any, rejected_dir: Path, short_hash: str, cls: str) -> tuple[set[int], int]:
    """(seeds already admitted or rejected for this model and class, number admitted)."""
    prefix = f"{short_hash}/{cls}/"
    ids = ds.match({"source": SOURCE}).values("source_id")
    admitted = {int(s[len(prefix):]) for s in ids if s.startswith(prefix)}
    rejected = {int(p.stem.split("_")[-1])
                for p in (rejected_dir / cls).glob(f"{short_hash}_*.json")}
    return admitted | rejected, len(admitted)


def _hash_file(path: str) -> int | None:
    try:
        return phash(read_gray(path))
    except (BadImage, OSError, ValueError):
        return None


def real_hashes(ds: Any, cache: Path, progress: bool) -> tuple[np.ndarray, list[str]]:
    """pHash of every real (train/val/test) image: the `phash` field written by `curate clean`
    when present, else computed once and cached in `cache` (keyed by sample id and filepath)."""
    view = real_view(ds)
    has_field = "phash" in view.get_field_schema()
    cols = view.values(["id", "filepath", "phash"] if has_field else ["id", "filepath"])
    ids, paths = cols[0], cols[1]
    stored = cols[2] if has_field else [None] * len(ids)
    cached = json.loads(cache.read_text()) if cache.is_file() else {}
    out, keep, new_cache = [], [], {}
    missing = [k for k, v in enumerate(stored) if hex_to_int(v) is None
               and cached.get(ids[k], [None])[0] != paths[k]]
    fresh: dict[int, int | None] = {}
    with task("hash real images", len(missing), progress and len(missing) > 500) as tick:
        for k in missing:
            fresh[k] = _hash_file(paths[k])
            tick()
    for k, sid in enumerate(ids):
        h = hex_to_int(stored[k])
        if h is None and k in fresh:
            h = fresh[k]
        elif h is None and sid in cached:
            h = hex_to_int(cached[sid][1])
        if h is None:
            continue
        out.append(h)
        keep.append(sid)
        new_cache[sid] = [paths[k], f"{h:016x}"]
    if missing:
        write_json_atomic(new_cache, cache)
    log.info("real image hashes: %d (%d computed now)", len(out), len(missing))
    return np.asarray(out, dtype=np.uint64), keep


def add_synthetic(ds: Any, rows: Sequence[dict[str, Any]]) -> int:
    """Insert admitted images as train samples with one batched insert; returns how many."""
    if not rows:
        return 0
    fo = store.fo()
    if "synthetic" not in ds.get_field_schema():
        ds.add_sample_field("synthetic", fo.DictField)
    samples = []
    for r in rows:
        meta = fo.ImageMetadata(width=r["width"], height=r["height"], num_channels=r["channels"],
                                size_bytes=r["size_bytes"], mime_type="image/png")
        samples.append(fo.Sample(
            filepath=r["filepath"], metadata=meta, tags=["synthetic"],
            ground_truth=fo.Classification(label=r["class"]), orig_label=r["class"],
            source=SOURCE, source_id=r["source_id"], split="train",
            synthetic=r["synthetic"]))
    return store.insert_samples(ds, samples)
