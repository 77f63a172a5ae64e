"""FER+ crowd votes (`fer2013new.csv`): one importer of the answers store, attaching the votes
to the FER-2013 rows they belong to (`curate ingest ferplus` and `curate votes import` of
FER+'s file both run `attach`).

The file has one row per FER-2013 CSV row, in the same order, so rows are matched by position
to the ingested FER-2013 CSV (`source_id` = row number); a row-count mismatch is an error.
FER+ is one importer of the answers store (`schema.ANSWERS`, `curate.votes`): each vote is an
answer (via "ferplus", pseudo-annotators "ferplus:1".."ferplus:N" per face), and the fields
derived from a face's answers are written by the store: `ferplus_votes` (10 counts in
FERPLUS_COLUMNS order), one int field per vote column (`ferplus_neutral` ... `ferplus_nf`)
for filtering in the App, `ferplus_label` (strict majority, a Classification),
`ferplus_agreement` (top votes / all votes). Answers from elsewhere on the same face count too.

A partial file (FER+ votes for some rows only, e.g. a dev split) leaves the other rows' vote
cells empty: such a row is "no votes" (counted in the report as `no_votes`, its sample left
without votes), not a malformed row. A row with some but not all ten cells filled is malformed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from curate.core import schema
from curate.core.errors import InputError, StoreError
from curate.core.taxonomy import FER2013_USAGE, FERPLUS_COLUMNS, ferplus_majority
from curate.core.votes import COLUMN_ANSWER
from curate.votes import db
from curate.votes.answers import answer_key, make_answer, utc_naive

HEADER = ("Usage", "Image name", *FERPLUS_COLUMNS)


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


NO_SAMPLE = "no FER-2013 sample for this row"  # the skip of a row whose sample is missing
NO_VOTES = "no votes"  # parse's marker of a row whose ten vote cells are all empty


Skipped = tuple[int, str]  # (data row, why it was skipped)


@dataclass
class Attached:
    """What `attach` did: samples whose votes changed, samples whose votes were there already,
    answers appended, rows skipped, rows without votes."""

    added: int = 0
    already_present: int = 0
    answers_added: int = 0
    answers: int = 0  # the file's answers (one per vote) on samples the dataset holds
    skipped: list[Skipped] = field(default_factory=list)
    no_votes: int = 0

    @property
    def unchanged(self) -> bool:
        """The same votes again: nothing derived changed (a no-op re-run)."""
        return bool(self.already_present) and not self.added


def parse(path: Path) -> tuple[list[Votes | str | None], list[Skipped], list[str]]:
    """One entry per data row: its votes, NO_VOTES (every vote cell empty), or None with a
    skip for a malformed row; and each row's Usage."""
    if not path.is_file():
        raise InputError(f"{path}: no such file (expected FER+ fer2013new.csv)")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        if tuple(header[: len(HEADER)]) != HEADER:
            raise InputError(f"{path}: header {','.join(header)[:120]!r} is not FER+'s "
                             f"{','.join(HEADER)}")
        rows: list[Votes | str | None] = []
        skips: list[Skipped] = []
        usages: list[str] = []
        for i, fields in enumerate(f for f in reader if f):  # a blank line is no row
            usages.append(fields[0].strip())
            votes = fields[2:12]
            if len(votes) == 10 and not any(v.strip() for v in votes):
                rows.append(NO_VOTES)
            elif len(votes) != 10 or not all(v.strip().isdigit() for v in votes):
                rows.append(None)
                skips.append((i, "malformed vote counts"))
            else:
                rows.append(Votes(tuple(int(v) for v in votes)))
    return rows, skips, usages


def attach(ds: Any, path: Path) -> Attached:
    """Store the votes as answers on the FER-2013 CSV samples of `ds` (`ferplus_answers`) and
    derive their vote fields from the store (`curate.votes.db`). Every check runs before
    anything is written."""
    src = (ds.info.get("sources") or {}).get("fer2013")
    if not src or src.get("kind") != "csv":
        raise StoreError(f"dataset {ds.name!r} has no FER-2013 CSV ingest to attach FER+ votes to; "
                         "run `curate ingest fer2013 <fer2013.csv>` first")
    rows, skipped, usages = parse(path)
    if len(rows) != src["rows"]:
        raise InputError(f"{path}: {len(rows)} rows but the ingested FER-2013 file "
                         f"{Path(src['path']).name} has {src['rows']}; FER+ rows match FER-2013 "
                         "rows by position, so both must be the same published pair")
    resplit = schema.ORIG_SPLIT in ds.get_field_schema()
    fields = [schema.SOURCE_ID, "id", schema.SPLIT, *([schema.ORIG_SPLIT] if resplit else [])]
    columns = dict(zip(fields, ds.match({schema.SOURCE: "fer2013"}).values(fields), strict=True))
    sids = columns[schema.SOURCE_ID]
    ids = dict(zip(sids, columns["id"], strict=True))
    # the CSV's split: `orig_split` where `balance --resplit` moved a sample
    splits = [o or s for o, s in zip(columns.get(schema.ORIG_SPLIT, columns[schema.SPLIT]),
                                     columns[schema.SPLIT], strict=True)]
    _check_aligned(path, usages, dict(zip(sids, splits, strict=True)))
    out = Attached(skipped=skipped, no_votes=sum(v == NO_VOTES for v in rows))
    incoming: dict[str, list[dict[str, Any]]] = {}
    at = utc_naive(None)
    for i, votes in enumerate(rows):
        sid = ids.get(str(i))
        if not isinstance(votes, Votes):
            continue
        if sid is None:
            out.skipped.append((i, f"{NO_SAMPLE} (skipped at FER-2013 ingest)"))
            continue
        incoming[sid] = ferplus_answers(i, votes, at)
    result = db.add(ds, incoming)
    out.answers = sum(map(len, incoming.values()))
    out.added, out.answers_added = result.samples_changed, result.answers_added
    out.already_present = len(incoming) - result.samples_changed
    return out


def ferplus_answers(row: int, votes: Votes, at: datetime) -> list[dict[str, Any]]:
    """One answer per vote, pseudo-annotators "ferplus:1".."ferplus:N" in column order (as the
    label audit's CROWDLAB reads them). A vote's key is its row, its place and its column: the
    same file adds nothing again; a corrected file's changed votes are new, later answers of
    the same pseudo-annotators, so they are the ones that count."""
    labels = [COLUMN_ANSWER[k] for k, n in enumerate(votes.counts) for _ in range(n)]
    return [make_answer(annotator=f"ferplus:{j}", label=label, via=schema.FERPLUS_VIA, at=at,
                        key=answer_key(schema.FERPLUS_VIA, row, j, label))
            for j, label in enumerate(labels, 1)]


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
