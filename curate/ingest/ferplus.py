"""FER+ crowd votes (`fer2013new.csv`), attached to the FER-2013 rows they belong to.

The file has one row per FER-2013 CSV row, in the same order, so rows are matched by position
to the ingested FER-2013 CSV (`source_id` = row number); a row-count mismatch is an error.
Fields written: `ferplus_votes` (10 counts in FERPLUS_COLUMNS order), one int field per vote
column (`ferplus_neutral` ... `ferplus_nf`) for filtering in the App, `ferplus_label` (strict
majority, a Classification), `ferplus_agreement` (top votes / all votes).

A partial file (FER+ votes for some rows only, e.g. a dev split) leaves the other rows' vote
cells empty: such a row is "no votes" (counted in the report as `no_votes`, its sample left
without votes), not a malformed row. A row with some but not all ten cells filled is malformed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.core import schema, store
from curate.core.errors import InputError, StoreError
from curate.core.taxonomy import FER2013_USAGE, FERPLUS_COLUMNS, ferplus_majority
from curate.ingest.base import IngestReport, Skip

HEADER = ("Usage", "Image name", *FERPLUS_COLUMNS)


def vote_field(column: str) -> str:
    return f"ferplus_{column.lower()}"


@dataclass(frozen=True)
class Votes:
    """One FER-2013 row's crowd votes: 10 counts in FERPLUS_COLUMNS order."""

    counts: tuple[int, ...]

    @property
    def agreement(self) -> float | None:
        """Top votes / all votes (None when nobody voted)."""
        total = sum(self.counts)
        return round(max(self.counts) / total, 4) if total else None

    @property
    def majority(self) -> str | None:
        return ferplus_majority(list(self.counts))


NO_VOTES = "no votes"  # parse's marker of a row whose ten vote cells are all empty


def parse(path: Path) -> tuple[list[Votes | str | None], list[Skip], list[str]]:
    """One entry per data row: its votes, NO_VOTES (every vote cell empty), or None with a Skip
    for a malformed row; and each row's Usage."""
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected FER+ fer2013new.csv)")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if tuple(header[: len(HEADER)]) != HEADER:
            raise InputError(f"{path}: header {','.join(header)[:120]!r} is not FER+'s "
                             f"{','.join(HEADER)}")
        rows: list[Votes | str | None] = []
        skips: list[Skip] = []
        usages: list[str] = []
        for i, fields in enumerate(f for f in reader if f):  # a blank line is no row
            usages.append(fields[0].strip())
            votes = fields[2:12]
            if len(votes) == 10 and not any(v.strip() for v in votes):
                rows.append(NO_VOTES)
            elif len(votes) != 10 or not all(v.strip().isdigit() for v in votes):
                rows.append(None)
                skips.append(Skip(path.name, i, "malformed vote counts"))
            else:
                rows.append(Votes(tuple(int(v) for v in votes)))
    return rows, skips, usages


def attach(ds: Any, path: Path, report: IngestReport) -> IngestReport:
    """Write the votes onto the FER-2013 CSV samples of `ds`."""
    src = (ds.info.get("sources") or {}).get("fer2013")
    if not src or src.get("kind") != "csv":
        raise StoreError(f"dataset {ds.name!r} has no FER-2013 CSV ingest to attach FER+ votes to; "
                         "run `curate ingest fer2013 <fer2013.csv>` first")
    rows, report.skipped, usages = parse(path)
    if len(rows) != src["rows"]:
        raise InputError(f"{path}: {len(rows)} rows but the ingested FER-2013 file "
                         f"{Path(src['path']).name} has {src['rows']}; FER+ rows match FER-2013 "
                         "rows by position, so both must be the same published pair")
    have_fields = ds.get_field_schema()
    voted, resplit = schema.FERPLUS_VOTES in have_fields, schema.ORIG_SPLIT in have_fields
    fields = [schema.SOURCE_ID, "id", schema.SPLIT, *([schema.ORIG_SPLIT] if resplit else []),
              *([schema.FERPLUS_VOTES] if voted else [])]
    columns = dict(zip(fields, ds.match({schema.SOURCE: "fer2013"}).values(fields), strict=True))
    sids, sample_ids = columns[schema.SOURCE_ID], columns["id"]
    ids = dict(zip(sids, sample_ids, strict=True))
    have = dict(zip(sample_ids, columns[schema.FERPLUS_VOTES], strict=True)) if voted else {}
    # the CSV's split: `orig_split` where `balance --resplit` moved a sample
    splits = [o or s for o, s in zip(columns.get(schema.ORIG_SPLIT, columns[schema.SPLIT]),
                                     columns[schema.SPLIT], strict=True)]
    _check_aligned(path, usages, dict(zip(sids, splits, strict=True)))
    updates: dict[str, Votes] = {}
    report.info["no_votes"] = sum(v == NO_VOTES for v in rows)
    for i, votes in enumerate(rows):
        sid = ids.get(str(i))
        if not isinstance(votes, Votes):
            continue
        if sid is None:
            report.skipped.append(Skip(path.name, i, "no FER-2013 sample for this row "
                                                      "(skipped at FER-2013 ingest)"))
            continue
        updates[sid] = votes
    changed = {i: v for i, v in updates.items() if list(have.get(i) or []) != list(v.counts)}
    _write(ds, changed)
    report.added, report.already_present = len(changed), len(updates) - len(changed)
    if updates and not changed:
        report.info["unchanged"] = True  # the same votes: nothing written (a no-op re-run)
    return report


def _check_aligned(path: Path, usages: list[str], split_of: dict[str, str]) -> None:
    """FER+ rows match FER-2013 rows by position: each row's Usage must be its sample's split
    (a reordered or another FER-2013 file of the same length would put votes on other faces)."""
    for i, usage in enumerate(usages):
        split = split_of.get(str(i))
        if split is not None and FER2013_USAGE.get(usage, split) != split:
            raise InputError(f"{path}: row {i} is {usage} here but its FER-2013 sample is in "
                             f"{split}: FER+ rows match FER-2013 rows by position, so the "
                             "FER-2013 file ingested must be the one FER+ was made from, in its "
                             "order")


def _write(ds: Any, updates: dict[str, Votes]) -> None:
    """One field at a time: a count per vote column, the counts, the agreement, the label."""
    if not updates:
        return
    f = store.fo()
    for k, column in enumerate(FERPLUS_COLUMNS):
        ds.set_values(vote_field(column), {i: v.counts[k] for i, v in updates.items()},
                      key_field="id")
    ds.set_values(schema.FERPLUS_VOTES, {i: list(v.counts) for i, v in updates.items()},
                  key_field="id")
    ds.set_values(schema.FERPLUS_AGREEMENT, {i: v.agreement for i, v in updates.items()},
                  key_field="id")
    labels = {i: (f.Classification(label=v.majority) if v.majority else None)
              for i, v in updates.items()}
    ds.set_values(schema.FERPLUS_LABEL, labels, key_field="id")
