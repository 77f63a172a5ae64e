"""`curate votes`: import answers into the store, and say who answered what and how well."""

from __future__ import annotations

import logging
import re
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from curate.core import runs, schema, store
from curate.core.votes import latest_per_annotator
from curate.core.workspace import Workspace, write_json_atomic
from curate.votes import db, ferplus
from curate.votes.answers import annotator_matrix, consensus_agreement
from curate.votes.config import VotesImportConfig, VotesStatusConfig
from curate.votes.importers import Row, is_ferplus, read_table, resolve, sample_index

log = logging.getLogger(__name__)
FERPLUS_FORMAT = "ferplus"
SHOWN_UNKNOWN = 10  # unknown-sample lines listed in the report (all are counted)


@dataclass
class VotesImportReport:
    path: str
    dataset: str
    format: str = "table"  # or FERPLUS_FORMAT (FER+'s own file, read by `curate.votes.ferplus`)
    rows: int = 0
    answers_added: int = 0
    already_present: int = 0  # answers whose key the store held already
    samples: int = 0
    samples_changed: int = 0  # samples whose derived votes changed
    unknown: int = 0  # answers naming a sample the dataset does not hold: skipped
    unknown_lines: list[int] = field(default_factory=list)
    malformed: int = 0  # FER+ rows whose vote cells are not ten counts: skipped
    splits: dict[str, int] = field(default_factory=dict)  # answers per split of their samples
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_answers(cfg: VotesImportConfig) -> tuple[VotesImportReport, Path]:
    """Import one table of answers (or FER+'s file); returns the report and its JSON copy."""
    t0 = time.perf_counter()
    path = cfg.path.resolve()
    report = VotesImportReport(path=str(path), dataset=cfg.dataset)
    rows = [] if is_ferplus(path) else read_table(path, cfg.task)  # checked before writing
    ds = store.load_dataset(cfg.dataset)
    if is_ferplus(path):
        _import_ferplus(ds, path, report)
    else:
        _import_table(ds, rows, path, report)
    report.seconds = round(time.perf_counter() - t0, 3)
    store.record_run(ds, runs.VOTES, {"path": str(path), "format": report.format, **{
        k: v for k, v in report.to_dict().items() if isinstance(v, int | float)}})
    ws = Workspace.for_dataset(cfg.dataset, cfg.workspace)
    out = write_json_atomic(report.to_dict(),
                            ws.reports / f"votes-import-{time.strftime('%Y%m%d-%H%M%S')}.json")
    return report, out


def _import_table(ds: Any, rows: list[Row], path: Path, report: VotesImportReport) -> None:
    index = sample_index(*ds.match(schema.real()).values(
        ["id", schema.SOURCE, schema.SOURCE_ID, schema.SPLIT]))
    got = resolve(rows, index, path.name)
    result = db.add(ds, got.incoming)
    report.rows = len(rows)
    report.answers_added = result.answers_added
    report.already_present = len(rows) - len(got.unknown) - result.answers_added
    report.samples, report.samples_changed = result.samples, result.samples_changed
    report.unknown = len(got.unknown)
    report.unknown_lines = [r.line for r in got.unknown[:SHOWN_UNKNOWN]]
    report.splits = dict(got.splits)


def _import_ferplus(ds: Any, path: Path, report: VotesImportReport) -> None:
    """FER+'s own file: the FER+ importer (`curate.votes.ferplus`, as `curate ingest
    ferplus`: its checks, one answer per vote)."""
    got = ferplus.attach(ds, path)
    report.format = FERPLUS_FORMAT
    report.rows = len(got.skipped) + got.added + got.already_present
    report.answers_added = got.answers_added
    report.already_present = got.answers - got.answers_added
    report.samples = got.added + got.already_present
    report.samples_changed = got.added
    missing = [row for row, why in got.skipped if why.startswith(ferplus.NO_SAMPLE)]
    report.unknown = len(missing)
    report.malformed = len(got.skipped) - len(missing)
    report.unknown_lines = [row + 2 for row in missing[:SHOWN_UNKNOWN]]  # blank lines aside


@dataclass
class AnnotatorRow:
    annotator: str
    vias: list[str]
    answers: int
    samples: int
    agreement: float | None  # with the consensus of the others (None: never compared)
    compared: int
    quality: float | None  # CROWDLAB annotator quality (None: not computed)


@dataclass
class VotesStatus:
    dataset: str
    annotators: list[AnnotatorRow]
    by_via: dict[str, int]
    samples: int  # samples with at least one answer
    quality_note: str  # why CROWDLAB quality is missing, "" when it is shown


def answer_status(cfg: VotesStatusConfig) -> VotesStatus:
    """Per annotator: answers, samples, agreement with the consensus, CROWDLAB quality."""
    ds = store.load_dataset(cfg.dataset)
    have = ds.get_field_schema()
    if schema.ANSWERS not in have:
        return VotesStatus(cfg.dataset, [], {}, 0, "no answers yet")
    view = ds.exists(schema.ANSWERS)
    fields = [schema.ANSWERS, *([schema.OOF] if schema.OOF in have else [])]
    cols = view.values(fields)
    answers = [a or [] for a in cols[0]]
    faces = [{w: a["label"] for w, a in latest_per_annotator(s).items()} for s in answers]
    counts: Counter = Counter()
    samples: Counter = Counter()
    vias: dict[str, set[str]] = {}
    by_via: Counter = Counter()
    for s in answers:
        for a in s:
            counts[a["annotator"]] += 1
            by_via[a["via"]] += 1
            vias.setdefault(a["annotator"], set()).add(a["via"])
        samples.update({a["annotator"] for a in s})
    agree = consensus_agreement(faces)
    oof = cols[1] if len(cols) > 1 else None
    quality, note = crowdlab_quality(faces, oof, sorted(counts))
    rows = [AnnotatorRow(w, sorted(vias[w]), counts[w], samples[w],
                         agree[w][0] / agree[w][1] if agree[w][1] else None, agree[w][1],
                         quality.get(w)) for w in sorted(counts, key=lambda w: (-counts[w],
                                                                                _natural(w)))]
    return VotesStatus(cfg.dataset, rows, dict(by_via), len(answers), note)


def _natural(name: str) -> list[Any]:
    """A sort key that puts ferplus:2 before ferplus:10."""
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def crowdlab_quality(faces: list[dict[str, str]], oof: list[Any] | None,
                      annotators: list[str]) -> tuple[dict[str, float], str]:
    """CROWDLAB's annotator quality on the faces with a class answer and out-of-fold
    probabilities; ({}, why) when it cannot be computed."""
    if oof is None:
        return {}, ("no out-of-fold probabilities (`oof`): run `curate clean --checks labels` "
                    "for CROWDLAB annotator quality; agreement only")
    matrix = annotator_matrix(faces, annotators)
    keep = np.array([p is not None for p in oof]) & ~np.isnan(matrix).all(1)
    used = ~np.isnan(matrix[keep]).all(0)
    if keep.sum() < 2 or used.sum() < 1:
        return {}, "too few answered faces with out-of-fold probabilities for CROWDLAB"
    from cleanlab.multiannotator import get_label_quality_multiannotator

    probs = np.asarray([oof[i] for i in np.flatnonzero(keep)], dtype=np.float64)
    names = [a for a, u in zip(annotators, used, strict=True) if u]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = get_label_quality_multiannotator(
                matrix[keep][:, used], probs / probs.sum(1, keepdims=True),
                return_detailed_quality=False, return_annotator_stats=True, verbose=False)
    except ValueError as e:
        return {}, f"CROWDLAB could not run on these answers ({e})"
    stats = out["annotator_stats"]
    return {names[int(k)]: float(v) for k, v in stats["annotator_quality"].items()}, ""
