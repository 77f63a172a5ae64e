"""The two views every comparison uses: `raw` and `curated` (docs/architecture.md).

Both are plain FiftyOne views of the one dataset, so the App, FiftyOne's exporters and our own
code read them the same way: the label is always `ground_truth.label` and the image always
`filepath`. Where a view needs another value, it overrides the field *in the view only*
(`set_field` with a database expression; nothing is written):

- **raw**: every real ingested sample (not synthetic, not augmented), nothing excluded, original
  files, and the label the source gave, recovered from `orig_label` through the taxonomy (a
  FER-2013 emotion id, a RAF-DB id, or a class-folder name), so `apply`'s corrections never
  reach it.
  `soft_label` (apply --soften) is left out of it.
- **curated**: samples not `excluded`, `ground_truth` labels (with `apply`'s corrections and
  `soft_label` targets where `apply --soften` wrote them),
  `restored_filepath` when restoration wrote one, minus the undersampled (`balance_drop`), plus
  augmented and synthetic samples (train only).

Both share the `split` field. The test split of `curated` is by default exactly the raw test
split (same samples, same original labels), so a comparison is fair; only its images follow the
curated preprocessing (the restored file where restoration wrote one), as at inference time: a
model trained on restored faces is scored on restored faces, not on a different image domain.
`curate_test=True` also applies exclusions and corrections to the test split.

`curate clean` reads a third one, `audited_view`: the labels it audits are `ground_truth` except
where an automatic policy of `apply` made them (their `label_reason` starts with `auto:` or
`crowd:`): those are clean's own output, so it audits the source's label there instead, and
clean -> apply -> clean settles. A reviewer's relabel is audited as given.

Never `save()` a sample or view obtained from these views: the overridden fields would be written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from typing import Any

from curate.core import schema
from curate.core.errors import InputError
from curate.core.schema import SOFT_LABEL
from curate.core.taxonomy import ALIASES, FER2013_IDS, RAFDB_IDS, TEST, TRAIN

log = logging.getLogger(__name__)

VIEWS = ("raw", "curated")


class ViewName(str, Enum):
    """The views every comparison uses (a CLI choice for export and train)."""

    raw = "raw"
    curated = "curated"

# (source, orig_label) -> class for the sources whose orig_label is a numeric id.
_SOURCE_IDS: dict[str, dict[str, str]] = {
    "fer2013": {str(k): v for k, v in FER2013_IDS.items()},
    "rafdb": {str(k): v for k, v in RAFDB_IDS.items()},
}


@dataclass(frozen=True)
class ViewSpec:
    """A named view with where its label and image live (always the same two fields)."""

    name: str
    view: Any  # fiftyone.core.view.DatasetView
    label_field: str = schema.LABEL
    filepath_field: str = schema.FILEPATH

    @property
    def label_path(self) -> str:
        return f"{self.label_field}.label"

    def __len__(self) -> int:
        return len(self.view)


def raw_label(source: str, orig_label: str | None, fallback: str | None = None) -> str | None:
    """The source's own label in the unified taxonomy (pure twin of the view expression)."""
    text = (orig_label or "").strip().lower()
    by_id = _SOURCE_IDS.get(source, {})
    if text in by_id:
        return by_id[text]
    return ALIASES.get(text, fallback)


def audited_label(source: str, orig_label: str | None, label: str | None,
                  label_reason: str | None) -> str | None:
    """The label `curate clean` audits (pure twin of `audited_view`): the source's where an
    automatic policy of `curate apply` made the current one, else the current one."""
    if (label_reason or "").startswith(schema.POLICY_LABEL_REASONS):
        return raw_label(source, orig_label, fallback=label)
    return label


def _raw_label_expr() -> dict:
    """MongoDB expression computing `raw_label(source, orig_label, ground_truth.label)`."""
    text = {"$toLower": {"$trim": {"input": {"$ifNull": [_ref(schema.ORIG_LABEL), ""]}}}}
    branches = [
        {"case": {"$and": [{"$eq": [_ref(schema.SOURCE), src]}, {"$eq": [text, key]}]},
         "then": cls}
        for src, ids in _SOURCE_IDS.items() for key, cls in ids.items()
    ]
    branches += [{"case": {"$eq": [text, alias]}, "then": cls} for alias, cls in ALIASES.items()]
    return {"$switch": {"branches": branches, "default": _ref(schema.LABEL_PATH)}}


def _ref(field: str) -> str:
    """A MongoDB expression's reference to a sample field (`$` + its schema name)."""
    return f"${field}"


def _expr(mongo: dict) -> Any:
    from curate.core.store import fo

    return fo().ViewExpression(mongo)


def raw_view(ds: Any) -> ViewSpec:
    """Every real sample, nothing excluded, original files, the source's own labels."""
    view = ds.match(schema.real()).set_field(schema.LABEL_PATH, _expr(_raw_label_expr()))
    if SOFT_LABEL in ds.get_field_schema():
        view = view.exclude_fields(SOFT_LABEL)
    return ViewSpec("raw", view)


def audited_view(view: Any) -> Any:
    """`view` with the labels `curate clean` audits (see the module docstring)."""
    if schema.LABEL_REASON not in view.get_field_schema():
        return view
    reason = {"$ifNull": [_ref(schema.LABEL_REASON), ""]}
    by_policy = {"$or": [{"$eq": [{"$indexOfCP": [reason, prefix]}, 0]}
                         for prefix in schema.POLICY_LABEL_REASONS]}
    label = {"$cond": [by_policy, _raw_label_expr(), _ref(schema.LABEL_PATH)]}
    return view.set_field(schema.LABEL_PATH, _expr(label))


def curated_view(ds: Any, *, include_excluded: bool = False, use_restored: bool = True,
                 curate_test: bool = False) -> ViewSpec:
    """Curated samples: see the module docstring."""
    fields = ds.get_field_schema()
    keep_test = {"$and": [schema.real(), {schema.SPLIT: TEST}]}
    conds: list[dict] = [
        {"$or": [schema.real(), {schema.SPLIT: TRAIN}]},  # derived samples are train-only
        {schema.BALANCE_DROP: {"$ne": True}},
    ]
    if not include_excluded:
        not_excluded = schema.not_excluded()
        conds.append(not_excluded if curate_test else {"$or": [not_excluded, keep_test]})
    view = ds.match({"$and": conds})
    is_test = {"$eq": [_ref(schema.SPLIT), TEST]}
    if not curate_test:
        label = {"$cond": [is_test, _raw_label_expr(), _ref(schema.LABEL_PATH)]}
        view = view.set_field(schema.LABEL_PATH, _expr(label))
    if use_restored and schema.RESTORED_FILEPATH in fields:
        restored = _ref(schema.RESTORED_FILEPATH)
        has = {"$gt": [{"$strLenCP": {"$ifNull": [restored, ""]}}, 0]}
        path: dict = {"$cond": [has, restored, _ref(schema.FILEPATH)]}
        view = view.set_field(schema.FILEPATH, _expr(path))
    return ViewSpec("curated", view)


def get_view(ds: Any, name: str, **options: Any) -> ViewSpec:
    """`raw` or `curated` by name; options go to `curated_view`."""
    if name == "raw":
        return raw_view(ds)
    if name == "curated":
        return curated_view(ds, **options)
    raise InputError(f"unknown view {name!r}; choose one of {', '.join(VIEWS)}")
