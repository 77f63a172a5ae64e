"""Arithmetic on FER+ crowd votes, (N, 10) counts in `taxonomy.FERPLUS_COLUMNS` order (the
`ferplus_votes` field): one definition for the label audit (`curate.clean.crowd`) and the
clean-label scores of `train compare`.

- `emotion_votes` / `vote_shares`: the 7 emotions' counts and shares (contempt, unknown and
  not-a-face votes are none of the 7 classes);
- `crowd_class`: the plurality of the emotion votes; `emotion_majority`: a strict majority of
  the emotion votes (the clean-label test's labels); `majority`: a strict majority of all 10;
- `plurality_wrong`: FER+'s own reading of a label flag: the plurality of the 10 votes (first
  of equal counts) is another column than the label's;
- `ANSWER_COLUMN` / `answer_counts`: where one stored answer (`schema.ANSWERS`) counts among
  the 10 columns, and the counts of a face's answers (the `ferplus_votes` they derive).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np

from curate.core.schema import ANSWER_LABELS, CONTEMPT, NONFACE, UNSURE
from curate.core.taxonomy import (
    CLASS_INDEX,
    CLASS_VOTE_COLUMNS,
    CLASSES,
    FERPLUS_COLUMNS,
    FERPLUS_TO_CLASS,
)

CLASS_COLUMN = np.array(CLASS_VOTE_COLUMNS)  # the FER+ vote column of each class
# an answer's label -> its FER+ column: a class its own, contempt "contempt", unsure "unknown",
# nonface "NF"
ANSWER_COLUMN: dict[str, int] = {
    **{c: CLASS_VOTE_COLUMNS[i] for i, c in enumerate(CLASSES)},
    CONTEMPT: FERPLUS_COLUMNS.index("contempt"), UNSURE: FERPLUS_COLUMNS.index("unknown"),
    NONFACE: FERPLUS_COLUMNS.index("NF")}
assert set(ANSWER_COLUMN) == set(ANSWER_LABELS)
# a FER+ column -> the answer label its votes are stored as
COLUMN_ANSWER: tuple[str, ...] = tuple(
    next(label for label, col in ANSWER_COLUMN.items() if col == k)
    for k in range(len(FERPLUS_COLUMNS)))


def answer_counts(labels: Iterable[str]) -> list[int]:
    """The 10 FER+ column counts of a face's answers (one label per annotator)."""
    counts = [0] * len(FERPLUS_COLUMNS)
    for label in labels:
        counts[ANSWER_COLUMN[label]] += 1
    return counts


def emotion_votes(votes: np.ndarray) -> np.ndarray:
    """(N, 7) vote counts in CLASSES order from FER+'s (N, 10) columns."""
    return np.asarray(votes, dtype=np.int64)[:, CLASS_COLUMN]


def vote_shares(votes: np.ndarray) -> np.ndarray:
    """(N, 7) share of each class among a row's emotion votes (rows without any: all zero)."""
    e = emotion_votes(votes).astype(np.float64)
    total = e.sum(1, keepdims=True)
    return np.divide(e, total, out=np.zeros_like(e), where=total > 0)


def crowd_class(votes: np.ndarray) -> np.ndarray:
    """Each row's crowd class: the plurality of its emotion votes (-1: no emotion votes)."""
    e = emotion_votes(votes)
    return np.where(e.sum(1) > 0, e.argmax(1), -1)


def plurality_wrong(given: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """True where the plurality of the 10 votes is not the given label's column."""
    return np.asarray(votes).argmax(1) != CLASS_COLUMN[np.asarray(given)]


def emotion_majority(votes: np.ndarray) -> np.ndarray:
    """The class holding a strict majority (more than half) of a row's emotion votes; -1 where
    none does or the row has no emotion votes."""
    e = emotion_votes(votes)
    return np.where(2 * e.max(1) > np.maximum(e.sum(1), 1), e.argmax(1), -1)


def majority(votes: np.ndarray) -> np.ndarray:
    """The strict majority class of the emotion votes among all 10 votes (-1: none, or a
    contempt / unknown / not-a-face majority)."""
    v = np.asarray(votes)
    best = v.argmax(1)
    strict = 2 * v.max(1) > v.sum(1)
    cls = np.array([CLASS_INDEX.get(FERPLUS_TO_CLASS[FERPLUS_COLUMNS[b]], -1) for b in best])
    return np.where(strict, cls, -1)


def latest_per_annotator(answers: Sequence[Mapping[str, Any]] | None
                         ) -> dict[str, Mapping[str, Any]]:
    """Each annotator's answer that counts (`schema.ANSWERS` records): the latest by `at`, then
    by stored order. The one rule: the store derives its counts by it, and `train` reads who
    gave a judging face's answers by it."""
    rows = list(answers or ())
    order = sorted(range(len(rows)), key=lambda i: (rows[i].get("at") or datetime.min, i))
    return {rows[i]["annotator"]: rows[i] for i in order}
