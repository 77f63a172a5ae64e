"""The label check: which labels are wrong, from out-of-fold models trained on the data itself.

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

`score` is the check (arrays in, an `IssueTable` out); `run` reads the arrays, scores them,
writes the table and `label_issues.csv`.
"""

from __future__ import annotations

import csv
import logging
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.clean import brain, crowd, features, signals
from curate.clean.config import DEFAULT_FILTER, WEAK_MODEL_ACCURACY, LabelsConfig
from curate.clean.oof import CHECKED_SPLITS, Embeddings, OofResult
from curate.core import runs, schema
from curate.core.errors import StoreError
from curate.core.issues import Column, IssueTable, Stat, write_issues
from curate.core.taxonomy import CLASS_INDEX, CLASSES, FERPLUS_COLUMNS
from curate.core.workspace import Workspace, atomic_path

if TYPE_CHECKING:
    from curate.clean.features import FeatureScores

log = logging.getLogger(__name__)
STAGE = "labels"
TAG = schema.issue_tag("label")
OUTLIER_TAG = schema.issue_tag("outlier")
NEAR_DUPLICATE_TAG = schema.issue_tag("near_duplicate")
CHECKED = CHECKED_SPLITS
TEST = "test"
CSV_NAME = "label_issues.csv"
CSV_COLUMNS = ("source_id", "split", "given_label", "label_quality", "label_error_prob",
               "suggested_label", "suggested_prob", "is_issue", "outlier_score", "is_outlier",
               "near_duplicate_score", "is_near_duplicate", "near_duplicate_set", "crowd_label",
               "crowd_agreement")


@dataclass(frozen=True)
class Verdict:
    """The label check on one set of rows: the signals, the estimated probability that each
    label is wrong (`label_quality` = 1 - it), the flags, and the suggested class (the most
    probable true class; for a flagged label the most probable other one) with its
    probability."""

    sig: signals.Signals
    is_issue: np.ndarray
    suggested: np.ndarray
    suggested_prob: np.ndarray

    @property
    def p_wrong(self) -> np.ndarray:
        return self.sig.p_wrong

    @property
    def quality(self) -> np.ndarray:
        return 1.0 - self.sig.p_wrong


def _cleanlab_flags(labels: np.ndarray, probs: np.ndarray, filter_by: str) -> np.ndarray:
    from cleanlab.filter import find_label_issues

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "may not flag all label issues" for rare classes
        return np.asarray(find_label_issues(labels, probs, filter_by=filter_by))


def score_labels(labels: np.ndarray, probs: np.ndarray, heldout: np.ndarray | None = None,
                 groups: np.ndarray | None = None, *, filter_by: str = DEFAULT_FILTER,
                 target_precision: float = signals.TARGET_PRECISION,
                 knn: int = signals.K_LABEL, crowd_class: np.ndarray | None = None,
                 seed: int = 0) -> Verdict:
    """The label check on out-of-sample probabilities (and held-out embeddings with their
    fold, for the neighbour signal; without them, or with knn=0, the model alone). With
    `crowd_class` (each row's crowd class, -1 = no votes) the posterior is calibrated on the
    crowd where enough rows have votes (`signals.combine`)."""
    labels = np.asarray(labels)
    if heldout is None or knn == 0:
        heldout, knn = None, 0
    groups = np.zeros(len(labels), np.int64) if groups is None else np.asarray(groups)
    sig = signals.combine(labels, probs, heldout, groups, k=knn, crowd=crowd_class, seed=seed)
    if filter_by == "precision":
        issue = signals.flag_to_precision(sig.p_wrong, labels, len(CLASSES), target_precision)
    else:
        issue = _cleanlab_flags(labels, signals.normalise(sig.probs("combined")), filter_by)
    post = sig.posterior.copy()
    post[np.flatnonzero(issue), labels[issue]] = -1.0  # a flag suggests another class
    suggested = post.argmax(1)
    return Verdict(sig, issue, suggested, sig.posterior[np.arange(len(labels)), suggested])


def ferplus_agreement(given: np.ndarray, suggested: np.ndarray, votes: np.ndarray,
                      issue: np.ndarray) -> dict[str, Stat]:
    """How often the given / suggested labels match the FER+ strict majority (where it is one
    of the classes), and the flags' precision against the FER+ plurality (`crowd.measured`);
    empty without any voted row."""
    voted = votes.sum(1) > 0
    if not voted.any():
        return {}
    fp = crowd.majority(votes)
    has = fp >= 0
    wrong = crowd.plurality_wrong(given[voted], votes[voted])
    flagged = has & issue
    out: dict[str, Stat] = {
        "voted": int(voted.sum()), "with_majority": int(has.sum()),
        "given_agrees": float((given[has] == fp[has]).mean()) if has.any() else None,
        "suggested_agrees": float((suggested[has] == fp[has]).mean()) if has.any() else None,
        "flagged_suggested_agrees": float((suggested[flagged] == fp[flagged]).mean())
        if flagged.any() else None}
    m = crowd.measured(issue[voted], wrong)
    out.update({"measured_" + k: v for k, v in m.items()})
    out["measured_precision_per_class"] = {
        c: crowd.measured(issue[voted] & (given[voted] == k), wrong)["precision"]
        for k, c in enumerate(CLASSES)}
    return out


@dataclass(frozen=True)
class LabelArrays:
    """The label check's inputs, one row per sample with a class label, out-of-fold
    probabilities and features: the first fold model's (outliers, near duplicates), the
    held-out embedding and its fold (the neighbour label signal), and the FER+ votes (10
    counts; all zero = no votes)."""

    ids: list[str]
    source_ids: list[str]
    splits: np.ndarray  # str, object dtype
    labels: np.ndarray  # class indices
    probs: np.ndarray  # (N, classes)
    features: np.ndarray  # (N, dim)
    heldout: np.ndarray  # (N, dim)
    fold: np.ndarray  # (N,) -1 = test
    votes: np.ndarray  # (N, 10)

    def take(self, idx: np.ndarray) -> LabelArrays:
        return LabelArrays([self.ids[i] for i in idx], [self.source_ids[i] for i in idx],
                           self.splits[idx], self.labels[idx], self.probs[idx],
                           self.features[idx], self.heldout[idx], self.fold[idx],
                           self.votes[idx])


@dataclass(frozen=True)
class LabelScores:
    """The scored rows (train/val first, then test when it has 2+ rows) with their label,
    feature and crowd scores. The masks hold what was found on every row, test included: the
    test split's are its audit, reported and never tagged (`to_table`)."""

    rows: LabelArrays
    checked: np.ndarray  # bool: a train/val row
    verdict: Verdict  # per part, concatenated
    feat: FeatureScores
    crowd: crowd.CrowdAudit
    stats: dict[str, Stat]
    role: np.ndarray  # schema.CROWD_ROLES per row, "" = no votes (`crowd_roles`)
    warning: str | None = None  # why no label flag was tagged (`_weak_model_warning`)


def _concat(parts: list[Verdict]) -> Verdict:
    """The parts' verdicts one after the other (each part has its own joint and weight: the
    first's are kept)."""
    def cat(get: Any) -> np.ndarray:
        return np.concatenate([get(p) for p in parts])

    first = parts[0].sig
    sig = signals.Signals(cat(lambda p: p.sig.model), cat(lambda p: p.sig.knn), first.weight,
                          first.joint, cat(lambda p: p.sig.posterior),
                          cat(lambda p: p.sig.p_wrong), first.crowd_rows)
    return Verdict(sig, cat(lambda p: p.is_issue), cat(lambda p: p.suggested),
                   cat(lambda p: p.suggested_prob))


def _per_class(labels: np.ndarray, mask: np.ndarray) -> dict[str, int]:
    counts = np.bincount(labels[mask], minlength=len(CLASSES))
    return {c: int(n) for c, n in zip(CLASSES, counts, strict=False)}


def _near_duplicate_stats(set_id: np.ndarray, split: np.ndarray) -> dict[str, Stat]:
    member = set_id >= 0
    splits_of: dict[int, set] = {}
    for s, sp in zip(set_id[member].tolist(), split[member].tolist(), strict=True):
        splits_of.setdefault(s, set()).add(sp)
    return {"near_duplicate_sets": len(splits_of), "near_duplicate_rows": int(member.sum()),
            "near_duplicate_cross_split_sets": sum(len(v) > 1 for v in splits_of.values())}


def _test_stats(rows: LabelArrays, v: Verdict, feat: FeatureScores,
                test: np.ndarray) -> dict[str, Stat]:
    if not test.any():
        return {}
    return {"test_audited": int(test.sum()), "test_would_flag": int(v.is_issue[test].sum()),
            "test_would_flag_outliers": int(feat.is_outlier[test].sum()),
            "test_would_flag_near_duplicates": int(feat.is_near_duplicate[test].sum()),
            "test_accuracy": float((v.sig.model[test].argmax(1) == rows.labels[test]).mean()),
            "test_mean_quality": float(v.quality[test].mean())}


def _stats(rows: LabelArrays, checked: np.ndarray, v: Verdict, feat: FeatureScores,
           audit: crowd.CrowdAudit) -> dict[str, Stat]:
    given = rows.labels
    est = signals.estimated_precision(v.p_wrong[checked], v.is_issue[checked], given[checked],
                                      CLASSES)
    out: dict[str, Stat] = {
        "checked": int(checked.sum()), "flagged": int((v.is_issue & checked).sum()),
        "flagged_per_class": _per_class(given, v.is_issue & checked),
        "estimated_precision": est["all"]["estimated_precision"],
        "estimated_precision_per_class": {c: est[c]["estimated_precision"] for c in CLASSES},
        "estimated_errors": int(round(float(v.p_wrong[checked].sum()))),
        "estimated_errors_per_class": {c: int(round(float(est[c]["estimated_errors"] or 0)))
                                       for c in CLASSES},
        "knn_weight": v.sig.weight,
        "calibration": (f"crowd ({v.sig.crowd_rows} voted rows, cross-fitted)"
                        if v.sig.crowd_rows else "confident joint (crowd-free)"),
        "outliers": int((feat.is_outlier & checked).sum()),
        "outliers_per_class": _per_class(given, feat.is_outlier & checked),
        "near_duplicates": int((feat.is_near_duplicate & checked).sum()),
    }
    out.update(_test_stats(rows, v, feat, ~checked))
    agreement = ferplus_agreement(given[checked], v.suggested[checked], rows.votes[checked],
                                  v.is_issue[checked])
    out.update({f"ferplus_{k}": val for k, val in agreement.items()})
    if audit.stats.get("voted"):
        out.update({k if k.startswith("crowd_") else f"crowd_{k}": val
                    for k, val in audit.stats.items()})
    return out


def judges(source_ids: list[str], share: float, seed: int) -> np.ndarray:
    """The rows held out of the crowd calibration (`--crowd-holdout`): a stable `share` of them,
    by a seeded hash of each source_id, so a re-run (or another machine) holds out the same."""
    import hashlib

    if share <= 0:
        return np.zeros(len(source_ids), bool)
    draw = [int.from_bytes(hashlib.sha256(f"{seed}:{s}".encode()).digest()[:8], "big") / 2**64
            for s in source_ids]
    return np.array(draw) < share


def crowd_roles(data: LabelArrays, checked: np.ndarray, cfg: LabelsConfig) -> np.ndarray:
    """Each row's crowd role (`schema.CROWD_ROLES`; "" = no votes, or votes nothing used yet):
    "judge" for the voted test rows and the checked ones `--crowd-holdout` holds out,
    "calibrate" for the other checked voted rows when they calibrate the audit (crowd
    calibration on and enough of them: `signals.MIN_CROWD_ROWS`)."""
    voted = crowd.crowd_class(data.votes) >= 0
    is_checked = np.zeros(len(voted), bool)
    is_checked[checked] = True
    held = judges(data.source_ids, cfg.crowd_holdout, cfg.seed)
    role = np.full(len(voted), "", dtype=object)
    role[voted & (~is_checked | held)] = schema.JUDGE
    calibrate = voted & is_checked & ~held
    if cfg.crowd_calibration and calibrate.sum() >= signals.MIN_CROWD_ROWS:
        role[calibrate] = schema.CALIBRATE
    return role


def score_rows(data: LabelArrays, cfg: LabelsConfig) -> LabelScores:
    """The label check on train/val and, separately, on test; Datalab's feature rules on
    every row; the crowd audit on the voted rows."""
    checked = np.flatnonzero(np.isin(data.splits, CHECKED))
    if len(checked) < 2:
        raise StoreError("no train/val samples with out-of-fold probabilities to check")
    t = time.perf_counter()
    feat = features.score_features(data.features, outlier_threshold=cfg.outlier_threshold,
                                   near_duplicate_threshold=cfg.near_duplicate_threshold)
    log.info("outliers and near duplicates on %d x %d features in %.1f s", *data.features.shape,
             time.perf_counter() - t)
    test = np.flatnonzero(data.splits == TEST)
    parts = [checked] + ([test] if len(test) > 1 else [])
    role = crowd_roles(data, checked, cfg)
    # the checked rows learn from the calibrating votes only; the test audit (never applied)
    # from the test rows' own votes, cross-fitted, as before
    every = crowd.crowd_class(data.votes)
    crowd_class = np.where(role == schema.CALIBRATE, every, -1)
    crowd_class[test] = every[test]
    v = _concat([score_labels(data.labels[p], data.probs[p], data.heldout[p], data.fold[p],
                              filter_by=cfg.filter_by, target_precision=cfg.target_precision,
                              knn=cfg.knn, seed=cfg.seed,
                              crowd_class=crowd_class[p] if cfg.crowd_calibration else None)
                 for p in parts])
    accuracy = float((data.probs[checked].argmax(1) == data.labels[checked]).mean())
    warning, withheld = None, 0
    if accuracy < WEAK_MODEL_ACCURACY:
        withheld = int(v.is_issue[: len(checked)].sum())
        warning = _weak_model_warning(accuracy, withheld)
        v = replace(v, is_issue=np.zeros_like(v.is_issue))
    order = np.concatenate(parts)
    rows, row_feat = data.take(order), feat.take(order)
    audit = crowd.audit(rows.labels, v.suggested, v.sig.probs("combined"), rows.votes)
    is_checked = np.arange(len(order)) < len(checked)
    stats = {**_stats(rows, is_checked, v, row_feat, audit),
             **_near_duplicate_stats(feat.set_id, data.splits),
             **_role_stats(role[order], is_checked, v, rows)}
    if warning is not None:
        stats["flags_withheld"] = withheld
    return LabelScores(rows, is_checked, v, row_feat, audit, stats, role[order], warning)


def _role_stats(role: np.ndarray, checked: np.ndarray, v: Verdict,
                rows: LabelArrays) -> dict[str, Stat]:
    """How many voted rows calibrated the audit and how many only judge; on the judging
    checked rows, the flags' precision measured against their votes (the figure no
    calibration saw)."""
    if not (role != "").any():
        return {}
    judge = checked & (role == schema.JUDGE)
    out: dict[str, Stat] = {"crowd_calibrating_rows": int((role == schema.CALIBRATE).sum()),
                            "crowd_judging_rows": int(judge.sum())}
    if judge.any():
        wrong = crowd.plurality_wrong(rows.labels[judge], rows.votes[judge])
        m = crowd.measured(v.is_issue[judge], wrong)
        out.update({f"judges_measured_{k}": val for k, val in m.items()})
    return out


def to_table(s: LabelScores) -> IssueTable:
    """Scores on every scored row; the issue flags on the train/val rows only; the crowd
    fields on the voted rows."""
    v, feat, a = s.verdict, s.feat, s.crowd
    suggested = [(CLASSES[int(k)], float(p)) for k, p in zip(v.suggested, v.suggested_prob,
                                                             strict=True)]
    voted = a.label >= 0
    columns = {
        schema.LABEL_QUALITY: Column("float", v.quality.round(6).tolist()),
        schema.LABEL_ERROR_PROB: Column("float", v.p_wrong.round(6).tolist()),
        schema.LABEL_POSTERIOR: Column("floatlist", v.sig.posterior.round(5).tolist()),
        schema.SUGGESTED_LABEL: Column("classification", suggested),
        schema.OUTLIER_SCORE: Column("float", feat.outlier_score.tolist()),
        schema.NEAR_DUPLICATE_SCORE: Column("float", feat.near_duplicate_score.tolist()),
        schema.NEAR_DUPLICATE_SET: Column("int", [g if g >= 0 else None
                                                  for g in feat.set_id.tolist()]),
    }
    if voted.any():
        columns |= {
            schema.CROWD_LABEL: Column("classification", [
                (CLASSES[int(k)], float(q)) if k >= 0 else None
                for k, q in zip(a.label, a.quality, strict=True)]),
            schema.CROWD_AGREEMENT: Column("float", [float(x) if ok else None for x, ok in
                                                     zip(a.agreement, voted, strict=True)]),
            schema.CROWD_LABEL_QUALITY: Column("float", [float(x) if ok else None for x, ok in
                                                         zip(a.quality, voted, strict=True)]),
            schema.CROWD_ROLE: Column("str", [r or None for r in s.role.tolist()]),
        }
    flags = {"label": v.is_issue & s.checked, "outlier": feat.is_outlier & s.checked,
             "near_duplicate": feat.is_near_duplicate & s.checked,
             **{k: m & s.checked for k, m in a.flags.items()}}
    return IssueTable("labels", list(s.rows.ids), columns, flags, s.stats)


def score(data: LabelArrays, cfg: LabelsConfig) -> IssueTable:
    """The label check: label issues, Datalab's feature rules and the crowd audit as a
    table."""
    return to_table(score_rows(data, cfg))


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
        return {"stats": self.stats, "tagged": self.tagged, "warning": self.warning}


def _read(view: Any, emb: Embeddings) -> LabelArrays:
    have = view.get_field_schema()
    ids, splits, labels, source_ids, probs = view.values(
        ["id", schema.SPLIT, schema.LABEL_PATH, schema.SOURCE_ID, schema.OOF])
    votes = (view.values(schema.FERPLUS_VOTES) if schema.FERPLUS_VOTES in have
             else [None] * len(ids))
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
                 dtype=np.int64).reshape(len(keep), n_votes))


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    with atomic_path(path, suffix=".csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        w.writerows(rows)
    return path


def _weak_model_warning(accuracy: float, withheld: int) -> str:
    return (f"out-of-fold accuracy {accuracy:.1%} is below {WEAK_MODEL_ACCURACY:.0%}: the model "
            f"is too weak for its label flags to be trusted, so none is tagged ({withheld} "
            "withheld); sort by label_quality to look, or run without --fast / with more epochs")


def _record_features(ds: Any, path: Path) -> None:
    """Where the features file is (dataset.info, not the run record: a path is no part of
    what a run did): the App's review queue finds its neighbours there."""
    if ds.info.get(schema.LABEL_FEATURES) != str(path):
        ds.info[schema.LABEL_FEATURES] = str(path)
        ds.save()


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
    voted = [schema.FERPLUS_VOTES] if schema.FERPLUS_VOTES in view.get_field_schema() else []
    fp = runs.fingerprint(settings, runs.sample_state(view, schema.OOF, *voted))
    path = ws.reports / CSV_NAME
    last = (runs.last_run(ds, STAGE) or {}).get("counts") or {}
    if runs.is_done(ds, STAGE, fp) and path.is_file() and "stats" in last:
        log.info("label issues are up to date; nothing to do")
        if brain.SIMILARITY_KEY not in ds.list_brain_runs():  # a run from before they existed
            data = _read(view, read_features(oof.features))
            brain.register(ds, data.ids, data.features, seed=cfg.seed)
        _record_features(ds, oof.features)
        return LabelsResult(last["stats"], last.get("tagged") or {}, oof, path,
                            warning=last.get("warning"), reused=True)
    data = _read(view, read_features(oof.features))
    scores = score_rows(data, cfg)
    tagged = write_issues(ds, to_table(scores))
    brain.register(ds, data.ids, data.features, seed=cfg.seed)
    _record_features(ds, oof.features)
    _write_csv(path, csv_rows(scores))
    if scores.warning:
        log.warning(scores.warning)
    result = LabelsResult(scores.stats, tagged, oof, path, time.perf_counter() - t0,
                          scores.warning)
    runs.record(ds, STAGE, config=settings, fp=fp, counts=result.record(),
                seconds=result.seconds)
    return result
