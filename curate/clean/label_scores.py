"""The label check's scoring: which labels are wrong, from out-of-fold probabilities.

`score_labels` is the label check on one set of rows (the signals of `curate.clean.signals`,
the flag rule, the suggested class); `score_rows` runs it on train/val and, apart, on the test
split (an audit: scored, never tagged), adds Datalab's feature rules (`curate.clean.features`),
the crowd audit and roles (`curate.clean.crowd`) and the statistics (`curate.clean.label_stats`);
`to_table` makes the `IssueTable`. Arrays in, arrays out: nothing here reads or writes the DB.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from curate.clean import crowd, features, label_stats, signals
from curate.clean.calibration import AnswerSet
from curate.clean.config import DEFAULT_FILTER, WEAK_MODEL_ACCURACY, LabelsConfig
from curate.core import schema
from curate.core.errors import StoreError
from curate.core.issues import Column, IssueTable, Stat
from curate.core.taxonomy import CLASSES, EDITABLE_SPLITS, TEST
from curate.core.votes import emotion_votes

log = logging.getLogger(__name__)
CHECK = "labels"  # the IssueTable's check name (`curate clean --checks labels`)


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
                 knn: int = signals.K_LABEL, answers: AnswerSet | None = None,
                 seed: int = 0) -> Verdict:
    """The label check on out-of-sample probabilities (and held-out embeddings with their
    fold, for the neighbour signal; without them, or with knn=0, the model alone). With
    `answers` (people's answers to some rows) the posterior is calibrated on them
    (`curate.clean.calibration`, through `signals.combine`)."""
    labels = np.asarray(labels)
    if heldout is None or knn == 0:
        heldout, knn = None, 0
    groups = np.zeros(len(labels), np.int64) if groups is None else np.asarray(groups)
    sig = signals.combine(labels, probs, heldout, groups, k=knn, answers=answers, seed=seed)
    if filter_by == "precision":
        issue = signals.flag_to_precision(sig.p_wrong, labels, len(CLASSES), target_precision)
    else:
        issue = _cleanlab_flags(labels, signals.normalise(sig.probs("combined")), filter_by)
    post = sig.posterior.copy()
    post[np.flatnonzero(issue), labels[issue]] = -1.0  # a flag suggests another class
    suggested = post.argmax(1)
    return Verdict(sig, issue, suggested, sig.posterior[np.arange(len(labels)), suggested])


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
    asked: np.ndarray | None = None  # (N,) `curate annotate`'s role (schema.ASK_ROLE), "" none
    weighted: np.ndarray | None = None  # (N, classes) answers weighted by annotator quality

    def take(self, idx: np.ndarray) -> LabelArrays:
        return LabelArrays([self.ids[i] for i in idx], [self.source_ids[i] for i in idx],
                           self.splits[idx], self.labels[idx], self.probs[idx],
                           self.features[idx], self.heldout[idx], self.fold[idx],
                           self.votes[idx], None if self.asked is None else self.asked[idx],
                           None if self.weighted is None else self.weighted[idx])


@dataclass(frozen=True)
class LabelScores:
    """The scored rows (train/val first, then test when it has 2+ rows) with their label,
    feature and crowd scores. The masks hold what was found on every row, test included: the
    test split's are its audit, reported and never tagged (`to_table`)."""

    rows: LabelArrays
    checked: np.ndarray  # bool: a train/val row
    verdict: Verdict  # per part, concatenated
    feat: features.FeatureScores
    crowd: crowd.CrowdAudit
    stats: dict[str, Stat]
    role: np.ndarray  # schema.CROWD_ROLES per row, "" = no votes (`crowd_roles`)
    warning: str | None = None  # why no label flag was tagged (`weak_model_warning`)


def _concat(parts: list[Verdict]) -> Verdict:
    """The parts' verdicts one after the other (each part has its own joint and weight: the
    first's are kept)."""
    def cat(get: Any) -> np.ndarray:
        return np.concatenate([get(p) for p in parts])

    first = parts[0].sig
    sig = signals.Signals(cat(lambda p: p.sig.model), cat(lambda p: p.sig.knn), first.weight,
                          first.joint, cat(lambda p: p.sig.posterior),
                          cat(lambda p: p.sig.p_wrong), first.crowd_rows,
                          first.calibration)
    return Verdict(sig, cat(lambda p: p.is_issue), cat(lambda p: p.suggested),
                   cat(lambda p: p.suggested_prob))


def score_rows(data: LabelArrays, cfg: LabelsConfig) -> LabelScores:
    """The label check on train/val and, separately, on test; Datalab's feature rules on
    every row; the crowd audit on the voted rows."""
    checked = np.flatnonzero(np.isin(data.splits, EDITABLE_SPLITS))
    if len(checked) < 2:
        raise StoreError("no train/val samples with out-of-fold probabilities to check")
    t = time.perf_counter()
    feat = features.score_features(data.features, outlier_threshold=cfg.outlier_threshold,
                                   near_duplicate_threshold=cfg.near_duplicate_threshold)
    log.info("outliers and near duplicates on %d x %d features in %.1f s", *data.features.shape,
             time.perf_counter() - t)
    test = np.flatnonzero(data.splits == TEST)
    parts = [checked] + ([test] if len(test) > 1 else [])
    role = crowd.crowd_roles(data, checked, cfg)
    # the checked rows learn from the calibrating answers only; the test audit (never applied)
    # from the test rows' own answers, cross-fitted
    counts = emotion_votes(data.votes).astype(np.float64)
    weighted = counts.copy() if data.weighted is None else data.weighted.copy()
    unused = (role != schema.CALIBRATE) & ~np.isin(np.arange(len(role)), test)
    counts[unused] = weighted[unused] = 0
    v = _concat([score_labels(data.labels[p], data.probs[p], data.heldout[p], data.fold[p],
                              filter_by=cfg.filter_by, target_precision=cfg.target_precision,
                              knn=cfg.knn, seed=cfg.seed,
                              answers=AnswerSet.from_counts(counts[p], weighted[p])
                              if cfg.crowd_calibration else None)
                 for p in parts])
    accuracy = float((data.probs[checked].argmax(1) == data.labels[checked]).mean())
    warning, withheld = None, 0
    if accuracy < WEAK_MODEL_ACCURACY:
        withheld = int(v.is_issue[: len(checked)].sum())
        warning = weak_model_warning(accuracy, withheld)
        v = replace(v, is_issue=np.zeros_like(v.is_issue))
    order = np.concatenate(parts)
    rows, row_feat = data.take(order), feat.take(order)
    audit = crowd.audit(rows.labels, v.suggested, v.sig.probs("combined"), rows.votes)
    is_checked = np.arange(len(order)) < len(checked)
    stats = {**label_stats.check_stats(rows, is_checked, v, row_feat, audit),
             **label_stats.near_duplicate_stats(feat.set_id, data.splits),
             **label_stats.role_stats(role[order], is_checked, v, rows)}
    if warning is not None:
        stats["flags_withheld"] = withheld
    return LabelScores(rows, is_checked, v, row_feat, audit, stats, role[order], warning)


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
    return IssueTable(CHECK, list(s.rows.ids), columns, flags, s.stats)


def score(data: LabelArrays, cfg: LabelsConfig) -> IssueTable:
    """The label check: label issues, Datalab's feature rules and the crowd audit as a
    table."""
    return to_table(score_rows(data, cfg))


def weak_model_warning(accuracy: float, withheld: int) -> str:
    return (f"out-of-fold accuracy {accuracy:.1%} is below {WEAK_MODEL_ACCURACY:.0%}: the model "
            f"is too weak for its label flags to be trusted, so none is tagged ({withheld} "
            "withheld); sort by label_quality to look, or run without --fast / with more epochs")
