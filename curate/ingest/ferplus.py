"""`curate ingest ferplus`: FER+ crowd votes (`fer2013new.csv`) through the answers store.

FER+ is one importer of the answers store (`curate.votes.ferplus`, which reads the file, checks
it against the ingested FER-2013 CSV and stores one answer per vote); this module only turns its
result into the ingest report. A row without votes is counted as `no_votes`; a malformed row or
one whose FER-2013 sample is missing is a Skip.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curate.ingest.base import IngestReport, Skip
from curate.votes import ferplus as store_ferplus


def attach(ds: Any, path: Path, report: IngestReport) -> IngestReport:
    """Store the votes of `path` on the FER-2013 CSV samples of `ds`; fill the report."""
    got = store_ferplus.attach(ds, path)
    report.skipped = [Skip(path.name, row, why) for row, why in got.skipped]
    report.info["no_votes"] = got.no_votes
    report.info["answers_added"] = got.answers_added
    report.added, report.already_present = got.added, got.already_present
    if got.unchanged:
        report.info["unchanged"] = True  # the same votes: nothing derived changed (a no-op)
    return report
