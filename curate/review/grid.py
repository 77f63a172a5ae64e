"""What the review grid draws: why a face was flagged, as three label fields in fixed colours.

The grid draws label fields, not strings: `orig_label` (the source's own label, in the source's
vocabulary) is invisible there, and after `apply --auto` the current label (`ground_truth`)
often already equals the suggestion. `write_grid_fields` writes, for every audited sample
(a `label_error_prob`), `review_given` (the source's label in the taxonomy: what the audit
judged) and `review_suggested` (the audit's suggestion with its confidence) as
Classifications, only where they changed; `color_scheme` gives the three fields their own
colours in the dataset's App config (other fields' settings are kept).
"""

from __future__ import annotations

from typing import Any

from curate.core import schema, store
from curate.core.schema import LABEL, LABEL_ERROR_PROB, REVIEW_GIVEN, REVIEW_SUGGESTED
from curate.core.taxonomy import CLASSES
from curate.core.views import raw_label

# the source's label grey (where it came from), the current label blue, the suggestion orange
FIELD_COLORS = {REVIEW_GIVEN: "#9e9e9e", LABEL: "#1f77b4", REVIEW_SUGGESTED: "#ff7f0e"}


def label_of(value: Any) -> str | None:
    """A label field's class: a Classification's `label`, a string as is (older datasets and
    the tests store the suggestion as a string), None otherwise."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value.get("label")
    return value if isinstance(value, str) else getattr(value, "label", None)


def confidence_of(value: Any) -> float | None:
    if isinstance(value, dict):
        return value.get("confidence")
    return getattr(value, "confidence", None)


GridRow = tuple[str | None, tuple[str | None, float | None]]


def grid_rows(source: list[Any], orig: list[Any], current: list[Any], suggested: list[Any]
              ) -> list[GridRow]:
    """Per sample: (the source's label, (suggested class, confidence)); pure."""
    out: list[GridRow] = []
    for src, o, cur, sug in zip(source, orig, current, suggested, strict=True):
        given = raw_label(src, o, fallback=label_of(cur))
        cls = label_of(sug)
        out.append((given if given in CLASSES else None,
                    (cls, confidence_of(sug)) if cls in CLASSES else (None, None)))
    return out


def _doc(label: str | None, confidence: float | None = None) -> dict[str, Any] | None:
    from bson import ObjectId

    if label is None:
        return None
    doc: dict[str, Any] = {"_id": ObjectId(), "_cls": "Classification", "tags": [],
                           "label": label}
    if confidence is not None:
        doc["confidence"] = float(confidence)
    return doc


def ensure_grid_fields(ds: Any) -> None:
    f = store.fo()
    have = ds.get_field_schema()
    for name, what in ((REVIEW_GIVEN, "the source's label (what the label audit judged)"),
                       (REVIEW_SUGGESTED, "the label audit's suggestion")):
        if name not in have:
            ds.add_sample_field(name, f.EmbeddedDocumentField,
                                embedded_doc_type=f.Classification, description=what)


def write_grid_fields(ds: Any) -> int:
    """Write `review_given` / `review_suggested` where they differ from the audit's; returns
    how many samples changed (0 on a dataset without a label audit)."""
    have = ds.get_field_schema()
    if LABEL_ERROR_PROB not in have:
        return 0
    ensure_grid_fields(ds)
    view = ds.exists(LABEL_ERROR_PROB)
    has_sug = schema.SUGGESTED_LABEL in have
    names = ["id", schema.SOURCE, schema.ORIG_LABEL, LABEL, REVIEW_GIVEN, REVIEW_SUGGESTED,
             *([schema.SUGGESTED_LABEL] if has_sug else [])]
    ids, source, orig, cur, old_given, old_sug, *rest = view.values(names, _raw=True)
    ids = [str(i) for i in ids]
    sug = rest[0] if has_sug else [None] * len(ids)
    rows = grid_rows(source, orig, cur, sug)
    changed = [k for k, (given, (cls, conf)) in enumerate(rows)
               if label_of(old_given[k]) != given or label_of(old_sug[k]) != cls
               or confidence_of(old_sug[k]) != conf]
    if changed:
        store.set_fields(ds, [ids[k] for k in changed], {
            REVIEW_GIVEN: [_doc(rows[k][0]) for k in changed],
            REVIEW_SUGGESTED: [_doc(*rows[k][1]) for k in changed]})
    set_colors(ds)
    return len(changed)


def color_scheme(current: Any) -> Any:
    """The dataset's colour scheme with the three review fields' fixed colours (colour by field;
    any other field's entry kept)."""
    f = store.fo()
    fields = [e for e in (getattr(current, "fields", None) or [])
              if (e.get("path") if isinstance(e, dict) else getattr(e, "path", None))
              not in FIELD_COLORS]
    fields += [{"path": path, "fieldColor": color} for path, color in FIELD_COLORS.items()]
    return f.ColorScheme(color_by="field", fields=fields)


def set_colors(ds: Any) -> None:
    """Store the colour scheme in the dataset's App config (what the App reads on load)."""
    ds.app_config.color_scheme = color_scheme(ds.app_config.color_scheme)
    ds.save()
