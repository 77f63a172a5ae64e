"""Tables of answers -> the answers store.

Any CSV with a header: a sample column (`sample_id`: the FiftyOne id; `source_id`, with an
optional `source` column where two sources share one; or `row`: a FER-2013 CSV row, i.e. the
`source_id` of a fer2013 sample), `annotator`, `label` (a class by any name the taxonomy knows,
or nonface / "not a face" / unsure), optional `time` (ISO 8601; naive = UTC) and `task`. FER+'s
own `fer2013new.csv` is recognised by its header and read by `curate.ingest.ferplus`.

Every line is checked before anything is written: a label outside the taxonomy, a bad time or
a missing annotator is refused with an InputError naming the file and line. An answer for a
sample the dataset does not hold is counted, reported and skipped.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from curate.core import schema
from curate.core.errors import InputError
from curate.core.taxonomy import class_from_name
from curate.votes.answers import Answer, answer_key, make_answer, utc_naive

SAMPLE_COLUMNS = ("sample_id", "source_id", "row")
FER2013 = "fer2013"
# answer names beside the taxonomy's class names (lower-cased, spaces and dashes as typed)
OTHER_LABELS = {"nonface": schema.NONFACE, "non-face": schema.NONFACE, "not a face": schema.NONFACE,
                "not-a-face": schema.NONFACE, "nf": schema.NONFACE, "unsure": schema.UNSURE,
                "unknown": schema.UNSURE, "not sure": schema.UNSURE}


@dataclass(frozen=True)
class Row:
    """One answer line of a table: where it points and what it says."""

    line: int  # 1-based line of the file (the header is line 1)
    column: str  # which sample column names the sample (SAMPLE_COLUMNS)
    ref: str  # the value of that column
    source: str  # the `source` column ("" when absent)
    answer: Answer


@dataclass
class Resolved:
    """Rows resolved to samples: sample id -> answers, and the rows naming no sample."""

    incoming: dict[str, list[Answer]] = field(default_factory=dict)
    unknown: list[Row] = field(default_factory=list)
    splits: Counter = field(default_factory=Counter)  # answers per split of the samples


def label_from_name(name: str) -> str | None:
    """An answer's label from what a table says (a class alias, nonface, unsure); None when
    it is none of those."""
    text = " ".join(name.strip().lower().replace("_", " ").split())
    return class_from_name(text) or OTHER_LABELS.get(text)


def is_ferplus(path: Path) -> bool:
    """Whether the file is FER+'s own format (its header starts `Usage,Image name`)."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh), [])
    return [h.strip() for h in header[:2]] == ["Usage", "Image name"]


def _lines(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(file line, row) of each data row; blank lines are no rows; a BOM is read past."""
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader, [])]
        if not any(c in header for c in SAMPLE_COLUMNS) or not {"annotator", "label"} <= set(header):
            raise InputError(f"{path}: header {','.join(header)[:120]!r} needs a sample column "
                             f"({' / '.join(SAMPLE_COLUMNS)}), annotator and label")
        for fields in reader:
            if any(f.strip() for f in fields):
                yield reader.line_num, dict(zip(header, (f.strip() for f in fields), strict=False))


def read_table(path: Path, task: str = "") -> list[Row]:
    """Every answer of a generic table, checked line by line (InputError naming the line)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected a CSV of answers)")
    rows: list[Row] = []
    occurrences: Counter = Counter()
    for line, rec in _lines(path):
        where = f"{path.name} line {line}"
        column = next((c for c in SAMPLE_COLUMNS if rec.get(c)), None)
        if column is None:
            raise InputError(f"{where}: no sample ({' / '.join(SAMPLE_COLUMNS)} is empty)")
        label = label_from_name(rec.get("label", ""))
        if label is None:
            raise InputError(f"{where}: label {rec.get('label', '')!r} is not a class of the "
                             f"taxonomy, nonface or unsure")
        who = rec.get("annotator", "")
        if not who:
            raise InputError(f"{where}: no annotator")
        at = _time(rec.get("time", ""), where)
        row_task = rec.get("task") or task
        identity = (schema.IMPORT_VIA, row_task, who, column, rec[column], rec.get("source", ""),
                    label, rec.get("time", ""))
        occurrences[identity] += 1  # the same answer twice in a file: two answers
        answer = make_answer(annotator=who, label=label, via=schema.IMPORT_VIA, at=at,
                             task=row_task, key=answer_key(*identity, occurrences[identity]))
        rows.append(Row(line, column, rec[column], rec.get("source", ""), answer))
    return rows


def _time(text: str, where: str) -> datetime | None:
    if not text:
        return None
    try:
        return utc_naive(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        raise InputError(f"{where}: time {text!r} is not ISO 8601 (e.g. "
                         "2024-05-01T14:03:00Z)") from None


def resolve(rows: list[Row], index: dict[str, Any], where: str) -> Resolved:
    """Each row's sample id through `index` (`sample_index`); rows naming none are `unknown`.
    A `source_id` two sources share, without a `source` column, is refused (InputError)."""
    out = Resolved()
    for r in rows:
        sid = _lookup(r, index, where)
        if sid is None:
            out.unknown.append(r)
            continue
        out.incoming.setdefault(sid, []).append(r.answer)
        out.splits[index["split"].get(sid, "")] += 1
    return out


def _lookup(r: Row, index: dict[str, Any], where: str) -> str | None:
    if r.column == "sample_id":
        return r.ref if r.ref in index["split"] else None
    if r.column == "row":
        return index["by_source"].get((FER2013, r.ref))
    if r.source:
        return index["by_source"].get((r.source, r.ref))
    found = index["by_sid"].get(r.ref) or []
    if len(found) > 1:
        raise InputError(f"{where} line {r.line}: source_id {r.ref!r} names samples of several "
                         "sources: add a `source` column")
    return found[0] if found else None


def sample_index(ids: list[str], sources: list[str], sids: list[str],
                 splits: list[str]) -> dict[str, Any]:
    """The lookups `resolve` needs, from the dataset's id, source, source_id and split."""
    by_sid: dict[str, list[str]] = {}
    for i, s in zip(ids, sids, strict=True):
        by_sid.setdefault(s, []).append(i)
    return {"split": dict(zip(ids, splits, strict=True)),
            "by_source": {(src, s): i for i, src, s in zip(ids, sources, sids, strict=True)},
            "by_sid": by_sid}
