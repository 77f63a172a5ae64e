"""The label check's DB side: which labels are wrong, from out-of-fold models trained on the
data itself.

train + val are checked: `label_error_prob` (the estimated probability that the label is
wrong; `label_quality` = 1 - it), `label_posterior` (P(true class | image, label)),
`suggested_label` (the most probable true class, another one for a flagged label, with its
probability as confidence) and the `issue:label` tag (per class, the most suspect labels up to
the target estimated precision). The signals and their combination are `curate.clean.signals`;
where FER+ votes exist, `curate.clean.crowd` adds the crowd audit (`crowd_label`,
`crowd_agreement`, `crowd_label_quality`, the `issue:crowd_*` disagreements) and the posterior
is calibrated on the voted rows. The test split is audited (scores written and counted in the
report) but never tagged. On the first fold model's features of every sample, Datalab's outlier
and near-duplicate rules (`curate.clean.features`, one kNN graph over all splits) write
`outlier_score` and `near_duplicate_score` / `near_duplicate_set`, and tag train/val members
`issue:outlier` (faces unlike their neighbours: non-faces, drawings, odd crops) and
`issue:near_duplicate` (the same face seen again, which pixel hashes miss: other crops, edits).
The out-of-fold probabilities and embeddings come from `curate.clean.oof` (computed once,
reused while the data and settings are unchanged).

The scoring (arrays in, an `IssueTable` out) is `curate.clean.label_scores`, its statistics
`curate.clean.label_stats`. `run` reads the arrays, scores them, writes the table,
`label_issues.csv` and, beside it, `label_issues.json` (the summary and its fingerprint: a
re-run on the same samples and settings reuses them). The run history records the check once,
as `curate clean` does for every check (`runs.check_stage("labels")`), from `LabelsResult`.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.clean import brain, calibration
from curate.clean.config import ANSWER_FIELDS, LabelsConfig
from curate.clean.label_scores import LabelArrays, LabelScores, score_rows, to_table
from curate.core import runs, schema
from curate.core.errors import StoreError
from curate.core.issues import Stat, write_issues
from curate.core.taxonomy import CLASS_INDEX, CLASSES, FERPLUS_COLUMNS
from curate.core.votes import latest_per_annotator
from curate.core.workspace import Workspace, atomic_path, write_json_atomic

if TYPE_CHECKING:
    from curate.clean.oof import Embeddings, OofResult

log = logging.getLogger(__name__)
TAG = schema.issue_tag("label")
OUTLIER_TAG = schema.issue_tag("outlier")
NEAR_DUPLICATE_TAG = schema.issue_tag("near_duplicate")
CSV_NAME = "label_issues.csv"
CACHE_NAME = "label_issues.json"  # beside the CSV: the summary and the fingerprint it is of
CSV_COLUMNS = ("source_id", "split", "given_label", "label_quality", "label_error_prob",
               "suggested_label", "suggested_prob", "is_issue", "outlier_score", "is_outlier",
               "near_duplicate_score", "is_near_duplicate", "near_duplicate_set", "crowd_label",
               "crowd_agreement")


@dataclass(frozen=True)
class LabelsResult:
    """What `run` did: the table's stats, the samples tagged per tag, the out-of-fold run it
    used, the CSV, and whether everything was reused from the last run."""

    stats: dict[str, Stat]
    tagged: dict[str, int]
    oof: OofResult
    csv: Path
    seconds: float = 0.0
    warning: str | None = None
    reused: bool = False

    def summary(self) -> dict[str, Stat]:
        """Flat: the check's stats, then the out-of-fold model's and this run's."""
        out: dict[str, Stat] = {
            **self.stats, "oof_accuracy": self.oof.oof_accuracy, "log_loss": self.oof.log_loss,
            "folds": self.oof.folds, "oof_seconds": round(self.oof.seconds, 1),
            "oof_reused": self.oof.reused, "seconds": round(self.seconds, 1),
            "reused": self.reused, "csv": str(self.csv)}
        if self.warning:
            out["warning"] = self.warning
        return out

    def record(self) -> dict[str, Any]:
        """What `label_issues.json` keeps for a re-run that reuses this one."""
        return {"stats": self.stats, "tagged": self.tagged, "warning": self.warning}


def csv_rows(s: LabelScores) -> list[tuple]:
    """One row per scored sample (CSV_COLUMNS); a test row's flags are its audit."""
    r, v, f, a = s.rows, s.verdict, s.feat, s.crowd
    return [(r.source_ids[j], r.splits[j], CLASSES[int(r.labels[j])],
             round(float(v.quality[j]), 6), round(float(v.p_wrong[j]), 6),
             CLASSES[int(v.suggested[j])], round(float(v.suggested_prob[j]), 6),
             bool(v.is_issue[j]), round(float(f.outlier_score[j]), 6), bool(f.is_outlier[j]),
             round(float(f.near_duplicate_score[j]), 6), bool(f.is_near_duplicate[j]),
             int(f.set_id[j]) if f.set_id[j] >= 0 else "",
             CLASSES[int(a.label[j])] if a.label[j] >= 0 else "",
             round(float(a.agreement[j]), 4) if a.label[j] >= 0 else "")
            for j in range(len(r.ids))]


def read_arrays(view: Any, emb: Embeddings) -> LabelArrays:
    """The check's inputs from `view` (the rows with a class label and out-of-fold
    probabilities) and the features file."""
    have = view.get_field_schema()
    ids, splits, labels, source_ids, probs = view.values(
        ["id", schema.SPLIT, schema.LABEL_PATH, schema.SOURCE_ID, schema.OOF])
    votes = (view.values(schema.FERPLUS_VOTES) if schema.FERPLUS_VOTES in have
             else [None] * len(ids))
    asked = (view.values(schema.ASK_ROLE) if schema.ASK_ROLE in have else [None] * len(ids))
    keep = [i for i, (sid, lab, p) in enumerate(zip(ids, labels, probs, strict=True))
            if lab in CLASS_INDEX and p is not None and sid in emb.row]
    at = np.array([emb.row[ids[i]] for i in keep], dtype=np.int64)
    n_votes = len(FERPLUS_COLUMNS)
    return LabelArrays(
        [ids[i] for i in keep], [source_ids[i] for i in keep],
        np.array([splits[i] for i in keep], dtype=object),
        np.array([CLASS_INDEX[labels[i]] for i in keep], dtype=np.int64),
        np.array([probs[i] for i in keep], dtype=np.float64).reshape(len(keep), len(CLASSES)),
        emb.features[at], emb.heldout[at], emb.fold[at],
        np.array([votes[i] if votes[i] is not None else [0] * n_votes for i in keep],
                 dtype=np.int64).reshape(len(keep), n_votes),
        np.array([asked[i] or "" for i in keep], dtype=object),
        annotator_weighted_counts(view, [ids[i] for i in keep], [probs[i] for i in keep])
        if schema.ANSWERS in have else None)


def annotator_weighted_counts(view: Any, ids: list[str], probs: list[Any]) -> np.ndarray | None:
    """(N, classes): each sample's class answers weighted by their annotator's CROWDLAB quality
    (`calibration.annotator_weighted`); None when no answer has a named annotator (FER+'s
    pseudo-annotators, one set per face, have no quality of their own: they weigh 1)."""
    from curate.votes import db
    from curate.votes.stage import crowdlab_quality

    stored, _ = db.read(view, ids)
    latest = [latest_per_annotator(f) for f in stored]
    faces = [{name: a["label"] for name, a in face.items()} for face in latest]
    named = sorted({name for face in latest for name, a in face.items()
                    if a["via"] != schema.FERPLUS_VIA})
    if not named:
        return None
    quality, why = crowdlab_quality([{n: lab for n, lab in face.items() if n in named}
                                     for face in faces], probs, named)
    if why:
        log.info("answers weigh alike: %s", why)
    pairs = [[(n, CLASS_INDEX[lab]) for n, lab in face.items() if lab in CLASS_INDEX]
             for face in faces]
    return calibration.annotator_weighted(pairs, quality, len(CLASSES))


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        w.writerows(rows)
    return path


def _record_features(ds: Any, path: Path) -> None:
    """Where the features file is (dataset.info, not the run record: a path is no part of
    what a run did): the App's review queue finds its neighbours there."""
    if ds.info.get(schema.LABEL_FEATURES) != str(path):
        ds.info[schema.LABEL_FEATURES] = str(path)
        ds.save()


def _cached(reports: Path, fp: str) -> dict[str, Any] | None:
    """The last check's summary when it was made with fingerprint `fp` and its CSV is there."""
    path = reports / CACHE_NAME
    if not (path.is_file() and (reports / CSV_NAME).is_file()):
        return None
    try:
        cached = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return cached if cached.get("fingerprint") == fp and "stats" in cached else None


def _reuse(ds: Any, view: Any, cfg: LabelsConfig, oof: OofResult,
           cached: dict[str, Any], csv_path: Path) -> LabelsResult:
    """The last check's result, unchanged (its tags and CSV are still the current ones)."""
    from curate.clean.oof import read_features

    log.info("label issues are up to date; nothing to do")
    if brain.SIMILARITY_KEY not in ds.list_brain_runs():  # a run from before they existed
        data = read_arrays(view, read_features(oof.features))
        brain.register(ds, data.ids, data.features, seed=cfg.seed)
    _record_features(ds, oof.features)
    return LabelsResult(cached["stats"], cached.get("tagged") or {}, oof, csv_path,
                        warning=cached.get("warning"), reused=True)


def answer_sources(ds: Any, ids: list[str]) -> dict[str, Stat]:
    """Who gave the answers that count on these samples (each annotator's latest): answers per
    `via` and the number of named annotators (FER+'s per-face pseudo-annotators are no one's
    name: its anonymous crowd is counted by its answers only)."""
    from curate.votes import db

    vias: dict[str, int] = {}
    who: set[str] = set()
    stored, _ = db.read(ds, ids)
    for face in stored:
        for name, answer in latest_per_annotator(face).items():
            vias[answer["via"]] = vias.get(answer["via"], 0) + 1
            if answer["via"] != schema.FERPLUS_VIA:
                who.add(name)
    return {"calibration_sources": vias, "calibration_annotators": len(who)}


def run(ds: Any, view: Any, cfg: LabelsConfig, *, workspace: Workspace | Path,
        progress: bool = False) -> LabelsResult:
    """Find label issues in train+val of `view`, audit its test split."""
    from curate.clean.oof import ensure_oof, read_features

    t0 = time.perf_counter()
    ws = workspace if isinstance(workspace, Workspace) else Workspace(Path(workspace))
    if len(view) == 0:
        raise StoreError("the view to check is empty: ingest data first")
    oof_cfg = cfg.oof_config()
    oof = ensure_oof(ds, view, oof_cfg, ws, progress=progress)
    settings = {**cfg.settings(), "oof": oof_cfg.settings()}
    fp = runs.fingerprint(settings, runs.sample_state(view, schema.OOF, *ANSWER_FIELDS))
    path = ws.reports / CSV_NAME
    cached = _cached(ws.reports, fp)
    if cached is not None:
        return _reuse(ds, view, cfg, oof, cached, path)
    data = read_arrays(view, read_features(oof.features))
    scores = score_rows(data, cfg)
    if "calibration_faces" in scores.stats:
        calibrating = [i for i, r in zip(scores.rows.ids, scores.role, strict=True)
                       if r == schema.CALIBRATE]
        scores.stats.update(answer_sources(ds, calibrating))
    tagged = write_issues(ds, to_table(scores))
    brain.register(ds, data.ids, data.features, seed=cfg.seed)
    _record_features(ds, oof.features)
    _write_csv(path, csv_rows(scores))
    if scores.warning:
        log.warning(scores.warning)
    result = LabelsResult(scores.stats, tagged, oof, path, time.perf_counter() - t0,
                          scores.warning)
    write_json_atomic({"fingerprint": fp, **result.record()}, ws.reports / CACHE_NAME)
    return result
