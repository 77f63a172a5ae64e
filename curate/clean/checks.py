"""The DB side of `curate clean`: one function per check, in an explicit registry.

Each check reads what it needs from the view in bulk, calls the pure code (duplicates,
quality) and writes its fields and `issue:<kind>` tags back in bulk. Images are decoded once
per run and shared by the checks that need pixels.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.clean import duplicates, quality
from curate.clean.pixels import Pixels, load_pixels
from curate.core import hashing, store
from curate.core.errors import CurateError
from curate.core.progress import task
from curate.core.workspace import Workspace

if TYPE_CHECKING:
    from curate.clean import CleanConfig

log = logging.getLogger(__name__)

DUP_TAGS = ("issue:duplicate", "issue:leak", "issue:conflict")
QUALITY_TAGS = tuple(f"issue:{k}" for k in quality.KINDS)


@dataclass
class CheckContext:
    ds: Any
    view: Any
    cfg: CleanConfig
    ws: Workspace
    _pixels: Pixels | None = None
    missing: dict[str, str] = field(default_factory=dict)  # filepath -> reason

    def pixels(self) -> Pixels:
        """Decode the view's images once (missing/unreadable files counted, not fatal)."""
        if self._pixels is None:
            ids, paths = self.view.values(["id", "filepath"])
            with task("clean: read images", len(ids), self.cfg.progress) as tick:
                self._pixels = load_pixels(ids, paths, workers=self.cfg.workers, tick=tick,
                                           phash="duplicates" in self.cfg.checks)
            self.missing = {paths[i]: why for i, why in self._pixels.errors.items()}
        return self._pixels


def _ensure_fields(ds: Any, fields: dict[str, str]) -> None:
    f = store.fo()
    kinds = {"str": f.StringField, "int": f.IntField, "float": f.FloatField,
             "bool": f.BooleanField, "strlist": f.ListField}
    schema = ds.get_field_schema()
    for name, kind in fields.items():
        if name not in schema:
            extra = {"subfield": f.StringField} if kind == "strlist" else {}
            ds.add_sample_field(name, kinds[kind], **extra)


def _write_fields(ds: Any, ids: list[str], columns: dict[str, list]) -> None:
    store.set_fields(ds, ids, columns)


def _retag(ds: Any, view: Any, masks: dict[str, np.ndarray], ids: list[str],
           old: tuple[str, ...]) -> dict[str, int]:
    """Replace this check's tags on the view: untag `old`, then tag each mask's samples."""
    view.untag_samples(list(old))
    counts = {}
    arr = np.asarray(ids)
    for tag, mask in masks.items():
        chosen = arr[mask].tolist()
        if chosen:
            ds.select(chosen).tag_samples(tag)
        counts[tag] = len(chosen)
    return counts


def run_duplicates(ctx: CheckContext) -> dict[str, Any]:
    """Exact (pixel) and near (pHash) duplicate groups, leakage and label conflicts."""
    px = ctx.pixels()  # read with digests and pHashes: this check is among cfg.checks
    hashes = px.phashes
    splits, labels, sources = ctx.view.values(["split", "ground_truth.label", "source"])
    ok = px.ok
    exact = duplicates.exact_groups(px.digests)
    near = duplicates.near_groups(hashes, ok, ctx.cfg.radius)
    ef = duplicates.group_flags(exact, splits, labels, sources)
    nf = duplicates.group_flags(near, splits, labels, sources)
    _ensure_fields(ctx.ds, {"phash": "str", "dup_group": "int", "exact_group": "int"})
    hexes = hashing.to_hex(hashes)
    cols = {"phash": [h if k else None for h, k in zip(hexes, ok.tolist())]}
    for name, groups in (("dup_group", near), ("exact_group", exact)):
        cols[name] = [int(g) if g >= 0 else None for g in groups.tolist()]
    _write_fields(ctx.ds, px.ids, cols)
    tags = _retag(ctx.ds, ctx.view, {"issue:duplicate": nf.duplicate, "issue:leak": nf.leak,
                                     "issue:conflict": nf.conflict}, px.ids, DUP_TAGS)
    return {
        "images": len(px.ids), "unreadable": len(px.errors), "radius": ctx.cfg.radius,
        "exact_groups": ef.groups, "exact_rows": int(ef.duplicate.sum()),
        "exact_cross_split_groups": ef.leak_groups, "exact_conflict_groups": ef.conflict_groups,
        "exact_cross_source_groups": ef.cross_source_groups,
        "near_groups": nf.groups, "near_rows": int(nf.duplicate.sum()),
        "near_cross_split_groups": nf.leak_groups, "near_conflict_groups": nf.conflict_groups,
        "near_cross_source_groups": nf.cross_source_groups, "tagged": tags,
    }


QUALITY_FIELDS = {"quality_brightness": "float", "quality_contrast": "float",
                  "quality_entropy": "float", "quality_laplacian_var": "float",
                  "lowinfo_score": "float", "dark_score": "float", "light_score": "float",
                  "blurry_score": "float", "face_score": "float", "quality_reasons": "strlist"}


def quality_config(cfg: CleanConfig) -> quality.QualityConfig:
    return quality.QualityConfig()


def run_quality(ctx: CheckContext) -> dict[str, Any]:
    """Low information, dark, light, blurry and non-face measures, scores and flags."""
    px = ctx.pixels()
    ok = px.ok
    qcfg = quality_config(ctx.cfg)
    batch = quality.to_side([im for im in px.images if im is not None])
    m = quality.measure(batch, dataclasses.replace(qcfg, face=False))
    if qcfg.face:
        # --fast runs the detector only where it can change a flag (low-entropy crops)
        sel = np.flatnonzero(m.entropy < 6.0) if ctx.cfg.fast else np.arange(len(batch))
        with task("clean: face detector", len(sel), ctx.cfg.progress) as tick:
            w = quality.haar_weights(batch[sel], qcfg.face_side, tick)
        m.face_score = np.full(len(batch), np.nan)
        m.face_score[sel] = quality.face_scores(w, m.entropy[sel])
    fl = quality.flags(m, qcfg)
    full = {name: np.full(len(px.ids), np.nan) for name in QUALITY_FIELDS}
    cols = {"quality_brightness": m.brightness, "quality_contrast": m.contrast,
            "quality_entropy": m.entropy, "quality_laplacian_var": m.laplacian_var,
            "face_score": m.face_score, **{f"{k}_score": m.scores[k] for k in m.scores}}
    _ensure_fields(ctx.ds, QUALITY_FIELDS)
    values: dict[str, list] = {}
    for name, arr in cols.items():
        full[name][ok] = arr
        values[name] = [None if np.isnan(v) else round(float(v), 5) for v in full[name].tolist()]
    reasons: list[list[str] | None] = [None] * len(px.ids)
    masks = {}
    pos = np.flatnonzero(ok)
    for j, i in enumerate(pos.tolist()):
        reasons[i] = quality.reasons(m, fl, j)
    for kind, mask in fl.items():
        masks[f"issue:{kind}"] = np.zeros(len(px.ids), dtype=bool)
        masks[f"issue:{kind}"][pos] = mask
    values["quality_reasons"] = reasons
    _write_fields(ctx.ds, px.ids, values)
    tags = _retag(ctx.ds, ctx.view, masks, px.ids, QUALITY_TAGS)
    return {"images": len(px.ids), "unreadable": len(px.errors),
            "faces_checked": int(np.isfinite(m.face_score).sum()),
            "thresholds": dataclasses.asdict(qcfg), "tagged": tags}


def _labels_module():  # noqa: ANN202 - the curate.clean.labels module
    try:
        return importlib.import_module("curate.clean.labels")
    except Exception as e:  # missing module or a broken import: say so, never skip silently
        raise CurateError(f"the labels check (curate.clean.labels) could not be imported "
                          f"({type(e).__name__}: {e}); run the other checks with "
                          "--checks duplicates,quality") from None


def labels_config(cfg: CleanConfig) -> Any:
    """curate.clean.labels.LabelsConfig from the clean options."""
    return _labels_module().LabelsConfig(folds=cfg.folds, epochs=cfg.epochs, seed=cfg.seed,
                                         device=cfg.device, fast=cfg.fast)


def run_labels(ctx: CheckContext) -> dict[str, Any]:
    """Label issues (cleanlab, out-of-fold): lives in curate.clean.labels, imported lazily."""
    mod = _labels_module()
    return mod.run(ctx.ds, ctx.view, labels_config(ctx.cfg), workspace=ctx.ws,
                   progress=ctx.cfg.progress)


def check_settings(name: str, cfg: CleanConfig) -> dict[str, Any]:
    """What a check's fingerprint includes besides the samples."""
    if name == "duplicates":
        return {"radius": cfg.radius, "hash": "phash8-pixelblake2b"}
    if name == "quality":
        return {"fast": cfg.fast, **dataclasses.asdict(quality_config(cfg))}
    if name == "labels":
        cfg_obj = labels_config(cfg)
        body = dataclasses.asdict(cfg_obj) if dataclasses.is_dataclass(cfg_obj) else repr(cfg_obj)
        return {"labels": body, "fast": cfg.fast, "seed": cfg.seed}
    return {}


CHECKS: dict[str, Callable[[CheckContext], dict[str, Any]]] = {
    "duplicates": run_duplicates,
    "quality": run_quality,
    "labels": run_labels,
}
