"""The check contract: a check scores arrays into an `IssueTable`; one writer stores any table.

As cleanlab's Datalab issue managers and cleanvision's image-property managers do, a check is a
pure function `score(arrays, config) -> IssueTable`: per-sample measures and scores (columns),
an is-issue mask per issue kind (flags), the per-sample reasons (a string-list column) and a
summary of counts (stats). It never touches the database. `write_issues` then puts any table
into the store in bulk (declares the fields, writes the columns, replaces the check's
`issue:<kind>` tags on the scored samples) and `ensure_saved_views` keeps one saved view per
tag, which the App lists and the report reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.core import schema, store

# A summary value: counts, rates, thresholds, or a per-class table (counts or rates; None = no
# value for that class).
Stat = int | float | str | bool | None | Mapping[str, int | float | None]

# Column kinds -> FiftyOne field declarations (see `_declare`).
COLUMN_KINDS = ("float", "int", "str", "bool", "strlist", "floatlist", "classification")


@dataclass(frozen=True)
class Column:
    """One per-sample field: its kind (COLUMN_KINDS) and values aligned with the table's ids
    (None = not measured for that sample). A `classification` column holds (label, confidence)
    pairs."""

    kind: str
    values: Sequence[Any]

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"column kind {self.kind!r}; use one of {', '.join(COLUMN_KINDS)}")


@dataclass
class IssueTable:
    """What one check found on the samples `ids` (every column and flag is aligned with them)."""

    check: str
    ids: list[str]
    columns: dict[str, Column] = field(default_factory=dict)
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # issue kind -> is_issue mask
    stats: dict[str, Stat] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        for name, col in self.columns.items():
            if len(col.values) != n:
                raise ValueError(f"{self.check}: column {name} has {len(col.values)} values "
                                 f"for {n} samples")
        for kind, mask in self.flags.items():
            schema.issue_tag(kind)  # a known kind
            if np.shape(mask) != (n,):
                raise ValueError(f"{self.check}: flag {kind} has shape {np.shape(mask)}, "
                                 f"expected ({n},)")

    def flagged(self, kind: str) -> list[str]:
        """The ids flagged with `kind`."""
        return np.asarray(self.ids, dtype=object)[np.asarray(self.flags[kind], bool)].tolist()

    def counts(self) -> dict[str, int]:
        """Samples flagged per issue tag."""
        return {schema.issue_tag(k): int(np.count_nonzero(m)) for k, m in self.flags.items()}


def _declare(ds: Any, columns: dict[str, Column]) -> None:
    f = store.fo()
    have = ds.get_field_schema()
    for name, col in columns.items():
        if name in have:
            continue
        if col.kind == "classification":
            ds.add_sample_field(name, f.EmbeddedDocumentField, embedded_doc_type=f.Classification)
        elif col.kind in ("strlist", "floatlist"):
            sub = f.StringField if col.kind == "strlist" else f.FloatField
            ds.add_sample_field(name, f.ListField, subfield=sub)
        else:
            kinds = {"float": f.FloatField, "int": f.IntField, "str": f.StringField,
                     "bool": f.BooleanField}
            ds.add_sample_field(name, kinds[col.kind])


def _encode(col: Column) -> list[Any]:
    """Values as the database stores them (plain Python; Classification as its document)."""
    if col.kind != "classification":
        return [v.item() if isinstance(v, np.generic) else v for v in col.values]
    from bson import ObjectId

    return [None if v is None else {"_id": ObjectId(), "_cls": "Classification", "tags": [],
                                    "label": v[0], "confidence": float(v[1])}
            for v in col.values]


def write_issues(ds: Any, table: IssueTable) -> dict[str, int]:
    """Store a table: its columns on its samples (one bulk write) and, for each of its issue
    kinds, the tag `issue:<kind>` on exactly the flagged samples among them. Returns the
    counts per tag."""
    _declare(ds, table.columns)
    if table.columns:
        store.set_fields(ds, table.ids, {n: _encode(c) for n, c in table.columns.items()})
    tags = [schema.issue_tag(k) for k in table.flags]
    if tags:
        for part in store.select_chunks(ds, table.ids):
            part.untag_samples(tags)
    for kind in table.flags:
        for part in store.select_chunks(ds, table.flagged(kind)):
            part.tag_samples(schema.issue_tag(kind))
    ds.reload()
    return table.counts()


def ensure_saved_views(ds: Any) -> list[str]:
    """Saved views per split and per issue tag present (named as the tags: `issue:<kind>`)."""
    f = store.fo()
    wanted: dict[str, Any] = {}
    for split in sorted(set(ds.distinct(schema.SPLIT))):
        wanted[schema.split_view(split)] = ds.match(f.ViewField(schema.SPLIT) == split)
    tags = ds.count_sample_tags()
    has_prob = schema.LABEL_ERROR_PROB in ds.get_field_schema()
    describe: dict[str, str] = {}
    for kind in schema.ISSUE_KINDS:
        tag = schema.issue_tag(kind)
        if tags.get(tag):
            wanted[tag] = ds.match_tags(tag)
            if kind == "label" and has_prob:  # most likely errors first, with the estimate
                wanted[tag] = wanted[tag].sort_by(schema.LABEL_ERROR_PROB, reverse=True)
                describe[tag] = _label_flags_description(wanted[tag])
    existing = set(ds.list_saved_views())
    for name, view in wanted.items():
        text = describe.get(name) or f"{len(view)} samples"
        if name in existing:
            ds.delete_saved_view(name)  # the view itself may change (its sort), not only the text
        ds.save_view(name, view, description=text)
    return sorted(wanted)


def _label_flags_description(view: Any) -> str:
    """'N samples, most likely errors first; estimated precision P% (class P% of n, ...)':
    the mean estimated probability that the flagged labels are wrong, per class."""
    labels, probs = view.values([schema.LABEL_PATH, schema.LABEL_ERROR_PROB])
    pairs = [(lab, p) for lab, p in zip(labels, probs, strict=True) if p is not None]
    if not pairs:
        return f"{len(view)} samples"
    per: dict[str, list[float]] = {}
    for lab, p in pairs:
        per.setdefault(lab or "?", []).append(p)
    parts = ", ".join(f"{c} {np.mean(v):.0%} of {len(v)}" for c, v in sorted(per.items()))
    total = float(np.mean([p for _, p in pairs]))
    return (f"{len(view)} samples, most likely errors first; estimated precision {total:.0%} "
            f"({parts})")
