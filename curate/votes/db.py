"""The answers store on the database: append answers atomically and idempotently, and keep the
fields derived from them (`ferplus_votes` and friends) in step.

`add` works in batches of samples. Per batch: each sample's new answers are appended by one
aggregation-pipeline update (`store.update_atomically`) that adds only the answers whose key is
not stored yet, so a write repeated after a crash doubles nothing; then the batch's derived
fields are recomputed from every stored answer and written where they changed. A kill between
batches leaves every sample either with or without its batch; a re-run completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from curate.core import schema, store
from curate.core.taxonomy import FERPLUS_COLUMNS
from curate.votes.answers import Answer, Derived, derive, new_answers

log = logging.getLogger(__name__)

BATCH = 2000  # samples per atomic write: a kill loses at most the batch in flight


def vote_field(column: str) -> str:
    """The per-column count field of a FER+ vote column (`ferplus_neutral` ... `ferplus_nf`),
    for filtering in the App."""
    return f"ferplus_{column.lower()}"


DERIVED_FIELDS = (schema.FERPLUS_VOTES, schema.FERPLUS_LABEL, schema.FERPLUS_AGREEMENT,
                  *(vote_field(c) for c in FERPLUS_COLUMNS))


@dataclass
class AddResult:
    """What `add` did: answers appended, samples whose derived fields changed, samples named."""

    answers_added: int = 0
    samples_changed: int = 0
    samples: int = 0


def ensure_fields(ds: Any) -> None:
    """Declare the answers list and the derived fields (raw writes need them declared)."""
    f = store.fo()
    have = ds.get_field_schema()
    wanted: dict[str, tuple[Any, dict[str, Any]]] = {
        schema.ANSWERS: (f.ListField, {"subfield": f.DictField}),
        schema.FERPLUS_VOTES: (f.ListField, {"subfield": f.IntField}),
        schema.FERPLUS_LABEL: (f.EmbeddedDocumentField, {"embedded_doc_type": f.Classification}),
        schema.FERPLUS_AGREEMENT: (f.FloatField, {}),
        **{vote_field(c): (f.IntField, {}) for c in FERPLUS_COLUMNS}}
    for name, (ftype, kwargs) in wanted.items():
        if name not in have:
            ds.add_sample_field(name, ftype, **kwargs)


def read(ds: Any, ids: Sequence[str]) -> tuple[list[list[Answer]], list[list[int] | None]]:
    """Each sample's stored answers and derived votes, aligned to `ids` (any number: read
    `store.SELECT_CHUNK` at a time). Read raw: FiftyOne's conversion of each answer dict through
    mongoengine was most of a no-op re-import's time (profiled on a full-size FER+ file), and
    the answers are plain dicts either way."""
    got: dict[str, tuple[Any, Any]] = {}
    for part in store.select_chunks(ds, list(dict.fromkeys(ids))):
        cols = part.values(["id", schema.ANSWERS, schema.FERPLUS_VOTES], _raw=True)
        got.update((i, (a, v)) for i, a, v in zip(*cols, strict=True))
    rows = [got.get(i, (None, None)) for i in ids]
    return [list(a or []) for a, _ in rows], [list(v) if v is not None else None for _, v in rows]


def append_pipeline(answers: list[Answer]) -> list[dict[str, Any]]:
    """One sample's atomic update: append the answers whose key is not stored yet."""
    stored_keys = {"$ifNull": [f"${schema.ANSWERS}.key", []]}
    fresh = {"$filter": {"input": {"$literal": answers}, "as": "a",
                         "cond": {"$not": [{"$in": ["$$a.key", stored_keys]}]}}}
    return [{"$set": {schema.ANSWERS: {
        "$concatArrays": [{"$ifNull": [f"${schema.ANSWERS}", []]}, fresh]}}}]


def add(ds: Any, incoming: dict[str, list[Answer]], batch: int | None = None) -> AddResult:
    """Append `incoming` (sample id -> answers) to the store and refresh the derived fields of
    every sample named (also those that gained nothing: a crash may have left them stale)."""
    ensure_fields(ds)
    result = AddResult(samples=len(incoming))
    ids, size = list(incoming), batch or BATCH
    for start in range(0, len(ids), size):
        part = ids[start:start + size]
        added, changed = _add_batch(ds, part, incoming)
        result.answers_added += added
        result.samples_changed += changed
    return result


def _add_batch(ds: Any, ids: list[str], incoming: dict[str, list[Answer]]) -> tuple[int, int]:
    stored, votes = read(ds, ids)
    fresh = {i: new_answers(s, incoming[i]) for i, s in zip(ids, stored, strict=True)}
    write_answers(ds, {i: a for i, a in fresh.items() if a})
    derived: dict[str, Derived] = {}
    for i, s, v in zip(ids, stored, votes, strict=True):
        d = derive([*s, *fresh[i]])
        if d is not None and d.votes != v:
            derived[i] = d
    write_derived(ds, derived)
    return sum(map(len, fresh.values())), len(derived)


def write_answers(ds: Any, fresh: dict[str, list[Answer]]) -> int:
    """One atomic append per sample (the batch writer a kill-safety test interrupts)."""
    return store.update_atomically(ds, {i: append_pipeline(a) for i, a in fresh.items()})


def write_derived(ds: Any, derived: dict[str, Derived]) -> None:
    """The derived fields of these samples, one `$set` each."""
    if not derived:
        return
    from bson import ObjectId

    ids = list(derived)
    rows = [derived[i] for i in ids]
    columns: dict[str, list[Any]] = {
        schema.FERPLUS_VOTES: [d.votes for d in rows],
        schema.FERPLUS_AGREEMENT: [d.agreement for d in rows],
        schema.FERPLUS_LABEL: [{"_id": ObjectId(), "_cls": "Classification", "tags": [],
                                "label": d.label} if d.label else None for d in rows],
        **{vote_field(c): [d.votes[k] for d in rows] for k, c in enumerate(FERPLUS_COLUMNS)}}
    store.set_fields(ds, ids, columns)


def remove_pipeline(key: str) -> list[dict[str, Any]]:
    """One sample's atomic update: drop the answer with this key (nothing else changes)."""
    return [{"$set": {schema.ANSWERS: {"$filter": {
        "input": {"$ifNull": [f"${schema.ANSWERS}", []]},
        "cond": {"$ne": ["$$this.key", key]}}}}}]


def remove(ds: Any, sid: str, key: str) -> bool:
    """Delete the answer with `key` from the sample and refresh its derived fields (cleared when
    no answer is left: the answering mode's undo); False when it was not stored."""
    ds.reload()
    before = read(ds, [sid])[0][0]
    if not any(a.get("key") == key for a in before):
        return False
    store.update_atomically(ds, {sid: remove_pipeline(key)})
    if len(before) > 1:
        refresh(ds, [sid])
    else:  # derive() has nothing to derive from a face without answers: clear its fields
        store.set_fields(ds, [sid], {f: [None] for f in DERIVED_FIELDS})
    return True


def refresh(ds: Any, ids: Sequence[str]) -> int:
    """Recompute the derived fields of these samples from their stored answers; returns how many
    changed."""
    return add(ds, {i: [] for i in ids}).samples_changed
