"""Review in the App: decisions on selected samples, a review queue that learns, the audit.

The FiftyOne plugin (`curate/app/plugins/review`) and the tests call these functions; the
decisions are the review tags `curate apply` commits (`curate.review.decisions`), the queue's
arithmetic is in `curate.review.queue`.

- `decide` / `undo_last`: one decision on selected samples, or taking back the last one;
- `review_queue`: the next batch of train/val samples to review, most likely label errors
  first: the static order (`label_error_prob`) or re-ranked with the decisions made so far;
- `audit`: per class, the label flags, their estimated precision, how many are reviewed and
  how many remain; the confusion of given vs suggested (and vs crowd) labels.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.apply import review_decision
from curate.core import runs, schema, store
from curate.core.errors import InputError
from curate.core.schema import (
    CROWD_LABEL,
    LABEL_ERROR_PROB,
    LABEL_PATH,
    OOF,
    ORIG_LABEL,
    SUGGESTED_LABEL,
)
from curate.core.taxonomy import CLASS_INDEX, CLASSES, EDITABLE_SPLITS
from curate.core.views import raw_label
from curate.review import queue
from curate.review.decisions import (
    ACTIONS,
    DecisionResult,
    decide,
    default_reviewer,
    says_wrong,
    undo_last,
)
from curate.review.grid import label_of

__all__ = ["ACTIONS", "ORDERS", "Audit", "DecisionResult", "QueueBatch", "audit", "decide",
           "default_reviewer", "review_queue", "undo_last"]

log = logging.getLogger(__name__)

ORDERS = ("learning", "static")  # the queue re-ranked by the decisions, or label_error_prob's
LABEL_ISSUE = schema.issue_tag("label")


@dataclass
class Candidates:
    """The train/val samples the label check scored, as arrays (row order = `ids`)."""

    ids: list[str]
    labels: np.ndarray  # given class index (the source's label: what the audit judged)
    p_wrong: np.ndarray
    probs: np.ndarray  # the label check's class probabilities (N, classes)
    flagged: np.ndarray  # bool: tagged issue:label
    reviewed: np.ndarray  # indices with a decision
    wrong: np.ndarray  # bool per reviewed: the decision says the label was wrong
    features: np.ndarray | None


def _features(ds: Any, ids: list[str]) -> np.ndarray | None:
    """The clean run's fold-model features of these samples (None when clean kept none)."""
    path = ds.info.get(schema.LABEL_FEATURES)
    if not path or not Path(path).is_file():
        return None
    with np.load(path) as z:
        row = {i: k for k, i in enumerate(z["ids"].tolist())}
        if not all(i in row for i in ids):
            return None
        return z["features"][[row[i] for i in ids]].astype(np.float32)


def candidates(ds: Any, with_features: bool = True) -> Candidates:
    """Every train/val sample with a `label_error_prob`, and the decisions on them."""
    have = ds.get_field_schema()
    if LABEL_ERROR_PROB not in have:
        raise InputError("no label audit on this dataset: run `curate clean --checks labels`")
    view = ds.match({"$and": [schema.real_in_splits(EDITABLE_SPLITS),
                              {LABEL_ERROR_PROB: {"$ne": None}}]})
    ids, source, orig, label, p, oof, tags = view.values(
        ["id", schema.SOURCE, ORIG_LABEL, LABEL_PATH, LABEL_ERROR_PROB, OOF, schema.TAGS])
    orig = [raw_label(*x) for x in zip(source, orig, label, strict=True)]  # what clean judged
    keep = [k for k, lab in enumerate(orig) if lab in CLASS_INDEX and oof[k] is not None]
    ids = [ids[k] for k in keep]
    labels = np.array([CLASS_INDEX[orig[k]] for k in keep], dtype=np.int64)
    decisions = [review_decision(tags[k]) for k in keep]
    reviewed = np.array([k for k, d in enumerate(decisions) if d[0]], dtype=np.int64)
    wrong = np.array([says_wrong(decisions[k][0] or "", decisions[k][1], CLASSES[labels[k]])
                      for k in reviewed], dtype=bool)
    return Candidates(
        ids, labels, np.array([p[k] for k in keep], dtype=np.float64),
        np.array([oof[k] for k in keep], dtype=np.float64).reshape(len(keep), len(CLASSES)),
        np.array([LABEL_ISSUE in (tags[k] or []) for k in keep], dtype=bool), reviewed, wrong,
        _features(ds, ids) if with_features else None)


@dataclass
class QueueBatch:
    ids: list[str]  # most likely errors first
    order: str
    reviewed: int
    remaining: int  # flagged samples not reviewed yet


def review_queue(ds: Any, size: int = 50, order: str = "learning",
                 flagged_only: bool = True) -> QueueBatch:
    """The next `size` samples to review: unreviewed train/val samples (only the `issue:label`
    flags unless `flagged_only` is False), most likely label errors first."""
    if order not in ORDERS:
        raise InputError(f"queue order {order!r}: use one of {', '.join(ORDERS)}")
    if size < 1:
        raise InputError(f"batch size {size}: use at least 1")
    c = candidates(ds, with_features=order == "learning")
    scores = (queue.rerank(c.p_wrong, c.labels, c.probs, c.features, c.reviewed, c.wrong)
              if order == "learning" else c.p_wrong)
    if flagged_only:
        scores = np.where(c.flagged, scores, -np.inf)
    pick = queue.next_batch(scores, c.reviewed, size)
    pick = pick[np.isfinite(scores[pick])]
    remaining = int(c.flagged.sum() - c.flagged[c.reviewed].sum())
    return QueueBatch([c.ids[k] for k in pick], order, len(c.reviewed), remaining)


@dataclass
class Audit:
    rows: list[dict[str, Any]]  # per class: flags, est_precision, reviewed, confirmed, remaining
    confusion: dict[str, Counter] = field(default_factory=dict)  # given -> suggested counts
    crowd_confusion: dict[str, Counter] = field(default_factory=dict)  # given -> crowd counts
    warning: str | None = None  # the last label check's (e.g. a model too weak to flag)


def audit(ds: Any) -> Audit:
    """The label-audit panel's figures (module doc)."""
    c = candidates(ds, with_features=False)
    have = ds.get_field_schema()
    fields = [f for f in (SUGGESTED_LABEL, CROWD_LABEL) if f in have]
    got = dict(zip(fields, store.values_by_id(ds, c.ids, fields), strict=True))
    suggested = [label_of(s) for s in got.get(SUGGESTED_LABEL, [None] * len(c.ids))]
    crowd = got.get(CROWD_LABEL, [None] * len(c.ids))
    is_reviewed = np.zeros(len(c.ids), bool)
    is_reviewed[c.reviewed] = True
    confirmed = np.zeros(len(c.ids), bool)
    confirmed[c.reviewed[c.wrong]] = True
    rows = []
    for k, cls in enumerate(CLASSES):
        flag = c.flagged & (c.labels == k)
        rows.append({"class": cls, "flags": int(flag.sum()),
                     "est_precision": float(c.p_wrong[flag].mean()) if flag.any() else None,
                     "reviewed": int((flag & is_reviewed).sum()),
                     "confirmed": int((flag & confirmed).sum()),
                     "remaining": int((flag & ~is_reviewed).sum())})
    out = Audit(rows, warning=runs.last(ds, runs.check_stage("labels")).counts.get("warning"))
    for row in np.flatnonzero(c.flagged).tolist():
        given = CLASSES[c.labels[row]]
        if suggested[row]:
            out.confusion.setdefault(given, Counter())[suggested[row]] += 1
        if crowd[row]:
            out.crowd_confusion.setdefault(given, Counter())[crowd[row]] += 1
    return out


def confusion_markdown(confusion: dict[str, Counter], against: str) -> str:
    """A given x other-label count table in markdown (the panel and the docs)."""
    if not confusion:
        return ""
    head = "| given \\ " + against + " | " + " | ".join(CLASSES) + " |"
    rule = "|---" * (len(CLASSES) + 1) + "|"
    lines = [head, rule]
    for g in CLASSES:
        row = confusion.get(g, Counter())
        lines.append(f"| {g} | " + " | ".join(str(row.get(c, 0) or "") for c in CLASSES) + " |")
    return "\n".join(lines)


def audit_markdown(a: Audit) -> str:
    """The audit as markdown: the per-class table, then the confusions."""
    lines = ["| class | flags | est. precision | reviewed | confirmed errors | remaining |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in a.rows:
        prec = f"{r['est_precision']:.0%}" if r["est_precision"] is not None else "-"
        lines.append(f"| {r['class']} | {r['flags']} | {prec} | {r['reviewed']} | "
                     f"{r['confirmed']} | {r['remaining']} |")
    total = {k: sum(r[k] for r in a.rows) for k in ("flags", "reviewed", "confirmed", "remaining")}
    lines.append(f"| **all** | {total['flags']} | | {total['reviewed']} | {total['confirmed']} | "
                 f"{total['remaining']} |")
    out = "\n".join(lines)
    if a.warning:
        out = f"**{a.warning}**\n\n{out}"
    for title, conf, against in (("Given vs suggested label (flags)", a.confusion, "suggested"),
                                 ("Given vs crowd label (flags with votes)", a.crowd_confusion,
                                  "crowd")):
        table = confusion_markdown(conf, against)
        if table:
            out += f"\n\n**{title}**\n\n{table}"
    return out
