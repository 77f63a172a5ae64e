"""Review decisions on selected samples: the state `curate apply` commits, written one way.

A decision replaces a sample's review tags (`review:drop`, `review:keep`,
`review:relabel:<class>`, curate.core.schema) and appends an entry to its `review_log`: the
action, the class, the reviewer, the time, the batch it came in and the review tags it
replaced. Each sample is updated atomically (`store.update_atomically`): other tags (the
`issue:*` flags that `clean` writes) are never touched, and of two reviewers deciding on the
same sample the later decision is the one in force while both stay in the log.

- accept: the sample's `suggested_label` (written by `curate clean --checks labels`);
- relabel: a class of the taxonomy;
- drop: an exclusion at `curate apply` (nothing is deleted);
- keep: not an issue (the label stands; `apply --auto` leaves the sample alone);
- undo: the reviewer's last batch not undone yet is taken back: each of its samples whose
  review tags are still the ones that batch wrote gets exactly the tags it had before; a sample
  another decision changed since is left as it is (counted as superseded).

A decision is also an answer (the answers store, `curate.votes`, via "review"): keep is an
answer for the current label, accept for the suggestion, relabel for the chosen class (drop
is none: it says the face should go, not what it shows). Its key is the decision's identity
(via, batch, sample, reviewer), so a repeated write adds nothing; an undo that takes a
decision back deletes its answer too.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from curate.core import schema, store
from curate.core.errors import InputError
from curate.core.schema import (
    LABEL_PATH,
    REVIEW_DROP,
    REVIEW_KEEP,
    REVIEW_LOG,
    REVIEW_PREFIX,
    SPLIT,
    SUGGESTED_LABEL,
    relabel_tag,
)
from curate.core.taxonomy import CLASSES, EDITABLE_SPLITS
from curate.review.grid import label_of

ACTIONS = ("accept", "relabel", "drop", "keep")
UNDO = "undo"
REVIEWER_ENV = "CURATE_REVIEWER"  # `curate app --reviewer NAME` sets it for the App server
WORKSPACE_ENV = "CURATE_WORKSPACE"  # `curate app --workspace` too (the App's stage operator)


def default_reviewer() -> str:
    """The reviewer's name when none is given: $CURATE_REVIEWER, else the OS user."""
    name = os.environ.get(REVIEWER_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def review_tags(action: str, label: str | None = None) -> list[str]:
    """The review tags a decision leaves on a sample."""
    if action == "drop":
        return [REVIEW_DROP]
    if action == "keep":
        return [REVIEW_KEEP]
    if action in ("accept", "relabel"):
        if label not in CLASSES:
            raise InputError(f"relabel as {label!r}: not a class; classes: {', '.join(CLASSES)}")
        return [relabel_tag(label)]
    raise InputError(f"unknown review action {action!r}; use one of {', '.join(ACTIONS)}")


def says_wrong(action: str, label: str | None, given: str | None) -> bool:
    """Whether a decision says the sample's label was wrong (what the review queue learns).
    `conflict` (drop and keep tagged by hand, which apply refuses) counts as the drop."""
    return action in ("drop", "conflict") or (action in ("accept", "relabel") and label != given)


@dataclass
class DecisionResult:
    batch: str
    reviewer: str
    decided: int = 0
    labels: Counter = field(default_factory=Counter)  # class -> samples (accept / relabel)
    superseded: int = 0  # undo: samples another decision changed since

    def summary(self, action: str) -> str:
        if action == UNDO:
            extra = (f"; {self.superseded} left as a later decision set them"
                     if self.superseded else "")
            return f"undid {self.decided} decisions of {self.reviewer}{extra}"
        per = ", ".join(f"{c} {n}" for c, n in sorted(self.labels.items()))
        return f"{action}: {self.decided} samples" + (f" ({per})" if per else "")


def _validated(ds: Any, ids: list[str], action: str, label: str | None
               ) -> list[tuple[str, str | None, str | None]]:
    """(id, class to write, given label) per selected sample; InputError when any cannot be
    decided, so a decision is all or nothing."""
    if action not in ACTIONS:
        raise InputError(f"unknown review action {action!r}; use one of {', '.join(ACTIONS)}")
    if not ids:
        raise InputError("no samples selected: select the samples to decide on first")
    if action == "relabel" and label not in CLASSES:
        raise InputError(f"relabel as {label!r}: not a class; classes: {', '.join(CLASSES)}")
    view = ds.select(ids)
    has_suggestion = SUGGESTED_LABEL in ds.get_field_schema()
    fields = ["id", SPLIT, LABEL_PATH] + ([SUGGESTED_LABEL] if has_suggestion else [])
    rows = list(zip(*view.values(fields), strict=True)) if len(view) else []
    if len(rows) != len(set(ids)):
        raise InputError(f"{len(set(ids)) - len(rows)} of the selected samples are not in "
                         f"dataset {ds.name!r}")
    outside = Counter(r[1] for r in rows if r[1] not in EDITABLE_SPLITS)
    if outside:
        where = ", ".join(f"{n} in {s}" for s, n in sorted(outside.items(), key=str))
        raise InputError(f"{sum(outside.values())} selected samples are outside train/val "
                         f"({where}): review decisions are for train and val only")
    out = []
    for r in rows:
        cls = label if action == "relabel" else (label_of(r[3]) if action == "accept" else None)
        out.append((r[0], cls, r[2]))
    missing = [i for i, cls, _ in out if action == "accept" and cls not in CLASSES]
    if missing:
        raise InputError(f"{len(missing)} selected samples have no suggested label: run "
                         "`curate clean --checks labels` first, or relabel them as a class")
    return out


def _not_review(tags: str) -> dict[str, Any]:
    return {"$filter": {"input": {"$ifNull": [tags, []]},
                        "cond": {"$ne": [{"$indexOfBytes": ["$$this", REVIEW_PREFIX]}, 0]}}}


def _review_only(tags: str) -> dict[str, Any]:
    return {"$filter": {"input": {"$ifNull": [tags, []]},
                        "cond": {"$eq": [{"$indexOfBytes": ["$$this", REVIEW_PREFIX]}, 0]}}}


def _pipeline(new_review: list[str], entry: dict[str, Any],
              only_if: list[str] | None = None) -> list[dict[str, Any]]:
    """One sample's atomic update: its review tags become `new_review` (other tags kept) and
    the entry (with `before` = the review tags it replaces) is appended to its log. With
    `only_if`, the tags change only when the current review tags are exactly those; the entry
    is appended either way, with `applied` saying which."""
    new_tags = {"$concatArrays": [_not_review("$tags"), {"$literal": new_review}]}
    same: Any = True if only_if is None else {
        "$setEquals": [_review_only("$tags"), {"$literal": only_if}]}
    log_entry = {**{k: {"$literal": v} for k, v in entry.items()},
                 "before": _review_only("$tags"), "applied": same}
    appended = {"$concatArrays": [{"$ifNull": [f"${REVIEW_LOG}", []]}, [log_entry]]}
    tags = new_tags if only_if is None else {"$cond": [same, new_tags, "$tags"]}
    return [{"$set": {schema.TAGS: tags, REVIEW_LOG: appended}}]


def ensure_log_field(ds: Any) -> None:
    """Declare `review_log` (a list of dicts) so the App and `values()` see it."""
    if REVIEW_LOG not in ds.get_field_schema():
        f = store.fo()
        ds.add_sample_field(REVIEW_LOG, f.ListField, subfield=f.DictField,
                            description="review decisions made in the App (curate.review)")


def decide(ds: Any, ids: list[str], action: str, *, label: str | None = None,
           reviewer: str | None = None) -> DecisionResult:
    """Record one decision on the selected samples (all of them or, on bad input, none)."""
    rows = _validated(ds, list(ids), action, label)
    ensure_log_field(ds)
    who = reviewer or default_reviewer()
    result = DecisionResult(batch=uuid.uuid4().hex[:12], reviewer=who)
    at = datetime.now(UTC).replace(tzinfo=None)
    updates = {}
    for sid, cls, given in rows:
        entry = {"action": action, "label": cls, "given": given, "reviewer": who, "at": at,
                 "batch": result.batch}
        updates[sid] = _pipeline(review_tags(action, cls), entry)
        if cls is not None:
            result.labels[cls] += 1
    result.decided = store.update_atomically(ds, updates)
    store_answers(ds, decision_answers(rows, action, who, result.batch, at))
    return result


def decision_key(batch: str, sid: str, reviewer: str) -> str:
    """The answer key of a decision on one sample: its identity, so a re-write adds nothing."""
    from curate.votes.answers import answer_key

    return answer_key(schema.REVIEW_VIA, batch, sid, reviewer)


def decision_answers(rows: list[tuple[str, str | None, str | None]], action: str, reviewer: str,
                     batch: str, at: datetime) -> dict[str, list[dict[str, Any]]]:
    """The answers a decision gives (module doc): sample id -> [answer]; pure."""
    from curate.votes.answers import make_answer

    out = {}
    for sid, cls, given in rows:
        label = given if action == "keep" else cls if action in ("accept", "relabel") else None
        if label in CLASSES:
            out[sid] = [make_answer(annotator=reviewer, label=label, via=schema.REVIEW_VIA,
                                    at=at, key=decision_key(batch, sid, reviewer))]
    return out


def store_answers(ds: Any, answers: dict[str, list[dict[str, Any]]]) -> None:
    if answers:
        from curate.votes import db

        db.add(ds, answers)


def log_entries(ds: Any) -> list[tuple[str, dict[str, Any]]]:
    """(sample id, entry) for every logged decision, oldest first."""
    if REVIEW_LOG not in ds.get_field_schema():
        return []
    view = ds.exists(REVIEW_LOG)
    ids, logs = view.values(["id", REVIEW_LOG])
    out = [(sid, e) for sid, log in zip(ids, logs, strict=True) for e in (log or [])]
    return sorted(out, key=lambda x: x[1].get("at") or datetime.min)


def undo_last(ds: Any, reviewer: str | None = None) -> DecisionResult:
    """Take back the reviewer's last batch that is not undone yet (see the module doc)."""
    who = reviewer or default_reviewer()
    entries = [(sid, e) for sid, e in log_entries(ds) if e.get("reviewer") == who]
    undone = {e.get("undoes") for _, e in entries if e.get("action") == UNDO}
    batches = [e["batch"] for _, e in entries
               if e.get("action") != UNDO and e["batch"] not in undone]
    if not batches:
        raise InputError(f"nothing to undo: {who} has no decision left to take back")
    last = batches[-1]
    result = DecisionResult(batch=uuid.uuid4().hex[:12], reviewer=who)
    at = datetime.now(UTC).replace(tzinfo=None)
    updates = {}
    for sid, e in entries:
        if e.get("batch") != last:
            continue
        entry = {"action": UNDO, "label": None, "reviewer": who, "at": at,
                 "batch": result.batch, "undoes": last}
        written = review_tags(e["action"], e.get("label"))
        updates[sid] = _pipeline(list(e.get("before") or []), entry, only_if=written)
    store.update_atomically(ds, updates)
    logs = store.values_by_id(ds, list(updates), [REVIEW_LOG])[0]
    applied = [sid for sid, log in zip(updates, logs, strict=True)
               if log and log[-1].get("applied")]
    result.decided = len(applied)
    result.superseded = len(updates) - result.decided
    _take_back_answers(ds, {sid: decision_key(last, sid, who) for sid in applied})
    return result


def _take_back_answers(ds: Any, keys: dict[str, str]) -> None:
    """Delete the answers of an undone decision (the samples where the undo applied)."""
    if keys and schema.ANSWERS in ds.get_field_schema():
        from curate.votes.db import remove

        for sid, key in keys.items():
            remove(ds, sid, key)
