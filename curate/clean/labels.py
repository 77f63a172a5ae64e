"""Label issues (cleanlab) from out-of-fold probabilities of a timm backbone trained on the data.

train + val are checked: `label_quality`, `suggested_label` (with its probability as
confidence) and the `issue:label` tag. The test split is audited (scores written and counted in
the report) but never tagged. Where FER+ votes were ingested, the agreement of the given and
suggested labels with the FER+ majority is reported. On the features of the same models (the
first fold model's pooled features of every sample, `curate.clean.oof`), Datalab's outlier and
near-duplicate rules (`curate.clean.features`, one kNN graph over all splits) write
`outlier_score` and `near_duplicate_score` / `near_duplicate_set`, and tag train/val members
`issue:outlier` (faces unlike their neighbours: non-faces, drawings, odd crops) and
`issue:near_duplicate` (the same face seen again, which pixel hashes miss: other crops, edits).
The out-of-fold probabilities and features come from `curate.clean.oof` (computed once, reused while
the data and settings are unchanged).
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.clean import features
from curate.core import runs
from curate.core.errors import InputError, StoreError
from curate.core.taxonomy import CLASS_INDEX, CLASSES
from curate.core.workspace import Workspace

log = logging.getLogger(__name__)
STAGE = "labels"
TAG = "issue:label"
OUTLIER_TAG = "issue:outlier"
NEAR_DUPLICATE_TAG = "issue:near_duplicate"
CHECKED = ("train", "val")
FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
           "predicted_neq_given")
CSV_NAME = "label_issues.csv"
# Below this out-of-fold accuracy the label flags are mostly the model's errors (FER-2013: human
# agreement ~65%, published single networks ~70%); the report says so.
WEAK_MODEL_ACCURACY = 0.45
CSV_COLUMNS = ("source_id", "split", "given_label", "label_quality", "suggested_label",
               "suggested_prob", "is_issue", "outlier_score", "is_outlier",
               "near_duplicate_score", "is_near_duplicate", "near_duplicate_set")
# Profiles: what `--fast` (the CPU budget) and the default mean for the K-fold training.
# resnet10t, not mobilenetv3_small_100: on 8k real FER-2013 train faces, 3 epochs at 48 px,
# resnet10t reached 45.7% PublicTest accuracy, resnet18 44.1% (1.6x slower) and
# mobilenetv3_small_100 26.2% (near the class prior: it does not learn at this size/budget).
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"folds": 5, "epochs": 6, "backbone": "resnet10t", "img_size": 48},
    "fast": {"folds": 3, "epochs": 2, "backbone": "resnet10t", "img_size": 48},
}


@dataclass(frozen=True)
class LabelsConfig:
    """Settings of the label check; None = the profile's value (`fast` picks the CPU budget)."""

    folds: int | None = None
    epochs: int | None = None
    backbone: str | None = None
    img_size: int | None = None
    seed: int = 0
    device: str = "cpu"
    fast: bool = False
    batch_size: int = 128
    shift: int = 3
    filter_by: str = "prune_by_noise_rate"
    outlier_threshold: float = features.OUTLIER_THRESHOLD
    near_duplicate_threshold: float = features.NEAR_DUPLICATE_THRESHOLD

    def __post_init__(self) -> None:
        if self.filter_by not in FILTERS:
            raise InputError(f"filter_by={self.filter_by!r}: use one of {', '.join(FILTERS)}")
        if not 0.0 <= self.outlier_threshold <= 1.0:
            raise InputError(f"outlier_threshold={self.outlier_threshold}: use a value in [0, 1]")
        if self.near_duplicate_threshold < 0.0:
            raise InputError(f"near_duplicate_threshold={self.near_duplicate_threshold}: use a "
                             "value >= 0")
        self.oof_config()  # validates folds, epochs, backbone name, sizes

    def resolved(self, key: str) -> Any:
        value = getattr(self, key)
        return PROFILES["fast" if self.fast else "default"][key] if value is None else value

    def oof_config(self):  # noqa: ANN201 - curate.clean.oof.OofConfig
        from curate.clean.oof import OofConfig

        return OofConfig(folds=self.resolved("folds"), backbone=self.resolved("backbone"),
                         img_size=self.resolved("img_size"), epochs=self.resolved("epochs"),
                         batch_size=self.batch_size, seed=self.seed, device=self.device,
                         shift=self.shift)


def score_labels(labels: np.ndarray, probs: np.ndarray,
                 filter_by: str = "prune_by_noise_rate") -> dict[str, np.ndarray]:
    """cleanlab on out-of-sample probabilities: quality score, issue mask, suggestion."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    probs = np.asarray(probs, dtype=np.float64)
    probs = probs / probs.sum(1, keepdims=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "may not flag all label issues" for rare classes
        ranked = find_label_issues(labels, probs, filter_by=filter_by,
                                   return_indices_ranked_by="self_confidence")
        quality = get_label_quality_scores(labels, probs, method="self_confidence")
    issue = np.zeros(len(labels), bool)
    issue[ranked] = True
    suggested = probs.argmax(1)
    return {"quality": quality, "is_issue": issue, "suggested": suggested,
            "suggested_prob": probs[np.arange(len(probs)), suggested], "ranked": ranked}


def ferplus_agreement(given: np.ndarray, suggested: np.ndarray, ferplus: list[str | None],
                      issue: np.ndarray) -> dict[str, Any]:
    """How often the given / suggested labels match the FER+ majority (where it is a class)."""
    fp = np.array([CLASS_INDEX.get(v, -1) if v else -1 for v in ferplus])
    has = fp >= 0
    if not has.any():
        return {}
    flagged = has & issue
    return {"with_majority": int(has.sum()),
            "given_agrees": float((given[has] == fp[has]).mean()),
            "suggested_agrees": float((suggested[has] == fp[has]).mean()),
            "flagged_with_majority": int(flagged.sum()),
            "flagged_given_disagrees": float((given[flagged] != fp[flagged]).mean())
            if flagged.any() else None,
            "flagged_suggested_agrees": float((suggested[flagged] == fp[flagged]).mean())
            if flagged.any() else None}


def _read(view: Any) -> dict[str, Any]:
    schema = view.get_field_schema()
    cols = {"id": view.values("id"), "split": view.values("split"),
            "label": view.values("ground_truth.label"), "source_id": view.values("source_id"),
            "oof": view.values("oof")}
    cols["ferplus"] = (view.values("ferplus_label.label") if "ferplus_label" in schema
                       else [None] * len(cols["id"]))
    return cols


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        w.writerows(rows)
    os.replace(tmp, path)
    return path


def _part(cols: dict[str, Any], idx: np.ndarray, cfg: LabelsConfig,
          feat: dict[str, np.ndarray]) -> dict[str, Any]:
    """cleanlab's label scores of the rows `idx`, with their rows of the feature scores `feat`
    (computed over every usable row, in `cols` order)."""
    labels = np.array([CLASS_INDEX[cols["label"][i]] for i in idx], dtype=np.int64)
    probs = np.array([cols["oof"][i] for i in idx], dtype=np.float64)
    return {"idx": idx, "labels": labels, **score_labels(labels, probs, cfg.filter_by),
            **{k: v[idx] for k, v in feat.items()}}


def _apply(ds: Any, cols: dict[str, Any], parts: list[dict[str, Any]], checked: dict) -> None:
    f = _fo()
    quality, suggested, outlier, near, near_set = {}, {}, {}, {}, {}
    for part in parts:
        for j, i in enumerate(part["idx"]):
            sid = cols["id"][i]
            quality[sid] = float(part["quality"][j])
            outlier[sid] = float(part["outlier_score"][j])
            near[sid] = float(part["near_duplicate_score"][j])
            near_set[sid] = int(part["set_id"][j]) if part["set_id"][j] >= 0 else None
            suggested[sid] = f.Classification(label=CLASSES[int(part["suggested"][j])],
                                              confidence=float(part["suggested_prob"][j]))
    ds.set_values("label_quality", quality, key_field="id")
    ds.set_values("suggested_label", suggested, key_field="id")
    ds.set_values("outlier_score", outlier, key_field="id")
    ds.set_values("near_duplicate_score", near, key_field="id")
    ds.set_values("near_duplicate_set", near_set, key_field="id")
    checked_ids = [cols["id"][i] for i in checked["idx"]]
    ds.select(checked_ids).untag_samples([TAG, OUTLIER_TAG, NEAR_DUPLICATE_TAG])
    for tag, mask in ((TAG, checked["is_issue"]), (OUTLIER_TAG, checked["is_outlier"]),
                      (NEAR_DUPLICATE_TAG, checked["is_near_duplicate"])):
        flagged = [cols["id"][i] for i, bad in zip(checked["idx"], mask, strict=True) if bad]
        if flagged:
            ds.select(flagged).tag_samples(tag)


def _fo():  # noqa: ANN202
    from curate.core import store

    return store.fo()


def _rows(cols: dict[str, Any], part: dict[str, Any]) -> list[tuple]:
    return [(cols["source_id"][i], cols["split"][i], cols["label"][i],
             round(float(part["quality"][j]), 6), CLASSES[int(part["suggested"][j])],
             round(float(part["suggested_prob"][j]), 6), bool(part["is_issue"][j]),
             round(float(part["outlier_score"][j]), 6), bool(part["is_outlier"][j]),
             round(float(part["near_duplicate_score"][j]), 6), bool(part["is_near_duplicate"][j]),
             int(part["set_id"][j]) if part["set_id"][j] >= 0 else "")
            for j, i in enumerate(part["idx"])]


def run(ds: Any, view: Any, cfg: LabelsConfig, *, workspace: Workspace | Path,
        progress: bool = False) -> dict[str, Any]:
    """Find label issues in train+val of `view`, audit its test split; returns summary counts."""
    from curate.clean.oof import ensure_oof, read_features

    t0 = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
    if len(view) == 0:
        raise StoreError("the view to check is empty: ingest data first")
    oof_cfg = cfg.oof_config()
    oof = ensure_oof(ds, view, oof_cfg, ws, progress=progress)
    settings = {**asdict(cfg), "oof": oof_cfg.settings()}
    settings.pop("device")
    fp = runs.fingerprint(settings, runs.sample_state(view, "oof"))
    if runs.is_done(ds, STAGE, fp) and (ws.reports / CSV_NAME).is_file():
        log.info("label issues are up to date; nothing to do")
        return {**runs.last_run(ds, STAGE)["counts"], "reused": True}
    cols = _read(view)
    embedded = read_features(oof["features"])
    usable = [i for i, (sid, lab, p) in enumerate(zip(cols["id"], cols["label"], cols["oof"],
                                                       strict=True))
              if lab in CLASS_INDEX and p is not None and sid in embedded]
    split = np.array(cols["split"], dtype=object)
    idx = np.array(usable, dtype=np.int64)
    checked_idx = idx[np.isin(split[idx], CHECKED)]
    if len(checked_idx) < 2:
        raise StoreError("no train/val samples with out-of-fold probabilities to check")
    feat = _feature_scores(cols, idx, embedded, cfg)
    checked = _part(cols, checked_idx, cfg, feat)
    test_idx = idx[split[idx] == "test"]
    test = _part(cols, test_idx, cfg, feat) if len(test_idx) > 1 else None
    parts = [checked] + ([test] if test else [])
    _apply(ds, cols, parts, checked)
    csv_path = _write_csv(ws.reports / CSV_NAME, [r for p in parts for r in _rows(cols, p)])
    summary = _summary(cols, checked, test, oof, time.perf_counter() - t0)
    summary.update(_near_duplicate_summary(feat["set_id"][idx], split[idx]))
    summary["csv"] = str(csv_path)
    acc = summary.get("oof_accuracy") or 0.0
    if acc < WEAK_MODEL_ACCURACY:
        summary["warning"] = (
            f"out-of-fold accuracy {acc:.1%} is below {WEAK_MODEL_ACCURACY:.0%}: the model is too "
            "weak for its label flags to be trusted (review only the lowest label_quality, or "
            "run without --fast / with more epochs)")
        log.warning(summary["warning"])
    runs.record(ds, STAGE, config=settings, fp=fp, counts=summary, seconds=summary["seconds"])
    return {**summary, "reused": False}


def _feature_scores(cols: dict[str, Any], idx: np.ndarray, embedded: dict[str, np.ndarray],
                    cfg: LabelsConfig) -> dict[str, np.ndarray]:
    """Datalab's outlier and near-duplicate rules over the rows `idx`, scattered back to full
    length (`cols` order) so that each part picks its rows."""
    x = np.stack([embedded[cols["id"][i]] for i in idx])
    t = time.perf_counter()
    scored = features.score_features(x, outlier_threshold=cfg.outlier_threshold,
                                     near_duplicate_threshold=cfg.near_duplicate_threshold)
    log.info("outliers and near duplicates on %d x %d features in %.1f s", *x.shape,
             time.perf_counter() - t)
    full = {}
    for key, values in scored.items():
        col = np.full(len(cols["id"]), -1 if key == "set_id" else 0, dtype=values.dtype)
        col[idx] = values
        full[key] = col
    return full


def _near_duplicate_summary(set_id: np.ndarray, split: np.ndarray) -> dict[str, int]:
    member = set_id >= 0
    splits_of: dict[int, set] = {}
    for s, sp in zip(set_id[member].tolist(), split[member].tolist(), strict=True):
        splits_of.setdefault(s, set()).add(sp)
    return {"near_duplicate_sets": len(splits_of), "near_duplicate_rows": int(member.sum()),
            "near_duplicate_cross_split_sets": sum(len(v) > 1 for v in splits_of.values())}


def _summary(cols: dict[str, Any], checked: dict, test: dict | None, oof: dict,
             seconds: float) -> dict[str, Any]:
    given = checked["labels"]
    flagged = np.bincount(given[checked["is_issue"]], minlength=len(CLASSES))
    outliers = np.bincount(given[checked["is_outlier"]], minlength=len(CLASSES))
    out: dict[str, Any] = {
        "checked": int(len(given)), "flagged": int(checked["is_issue"].sum()),
        "flagged_per_class": {c: int(n) for c, n in zip(CLASSES, flagged, strict=False)},
        "outliers": int(checked["is_outlier"].sum()),
        "outliers_per_class": {c: int(n) for c, n in zip(CLASSES, outliers, strict=False)},
        "near_duplicates": int(checked["is_near_duplicate"].sum()),
        "oof_accuracy": oof.get("oof_accuracy"), "log_loss": oof.get("log_loss"),
        "folds": oof.get("folds"), "oof_seconds": round(oof.get("seconds", 0.0), 1),
        "oof_reused": oof.get("reused", False), "seconds": round(seconds, 1),
    }
    if test is not None:
        out["test_audit"] = {"audited": int(len(test["labels"])),
                             "would_flag": int(test["is_issue"].sum()),
                             "would_flag_outliers": int(test["is_outlier"].sum()),
                             "would_flag_near_duplicates": int(test["is_near_duplicate"].sum()),
                             "accuracy": float((test["suggested"] == test["labels"]).mean()),
                             "mean_quality": float(test["quality"].mean())}
    ferplus = [cols["ferplus"][i] for i in checked["idx"]]
    agreement = ferplus_agreement(given, checked["suggested"], ferplus, checked["is_issue"])
    if agreement:
        out["ferplus"] = agreement
    return out
