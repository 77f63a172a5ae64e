"""The answers store's logic, pure on lists: keys, de-duplication, the answer that counts per
annotator, the fields derived from a face's answers, and agreement with the consensus.

An answer is a dict with `schema.ANSWER_KEYS` (see `schema.ANSWERS`). Nothing here reads or
writes the database (`curate.votes.db` does).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from curate.core.errors import InputError
from curate.core.schema import ANSWER_LABELS, ANSWER_VIAS
from curate.core.taxonomy import CLASS_INDEX, ferplus_majority
from curate.core.votes import answer_counts, latest_per_annotator

Answer = dict[str, Any]


def answer_key(*parts: Any) -> str:
    """A stable key of an answer's origin (e.g. via, task, annotator, sample, the row's
    identity in its file): the same parts give the same key, so a re-import adds nothing."""
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:24]


def utc_naive(at: datetime | None) -> datetime:
    """A time as the store keeps it: UTC, without tzinfo (now when None; naive = UTC)."""
    if at is None:
        return datetime.now(UTC).replace(tzinfo=None)
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


def make_answer(*, annotator: str, label: str, via: str, key: str, at: datetime | None = None,
                task: str = "") -> Answer:
    """One answer record; InputError on a label or `via` outside the store's vocabulary."""
    if label not in ANSWER_LABELS:
        raise InputError(f"answer label {label!r} is none of {', '.join(ANSWER_LABELS)}")
    if via not in ANSWER_VIAS:
        raise InputError(f"answer source {via!r} is none of {', '.join(ANSWER_VIAS)}")
    if not annotator:
        raise InputError("an answer needs an annotator")
    return {"annotator": annotator, "label": label, "at": utc_naive(at), "via": via,
            "task": task or "", "key": key}


def new_answers(stored: Sequence[Answer] | None, incoming: Iterable[Answer]) -> list[Answer]:
    """The incoming answers whose key is neither stored nor earlier among `incoming`."""
    seen = {a.get("key") for a in stored or ()}
    out = []
    for a in incoming:
        if a["key"] not in seen:
            seen.add(a["key"])
            out.append(a)
    return out


@dataclass(frozen=True)
class Derived:
    """The fields a face's answers give: 10 counts (FERPLUS_COLUMNS order), the strict majority
    (taxonomy or contempt / unknown / nonface, None without one) and top votes / all votes."""

    votes: list[int]
    label: str | None
    agreement: float | None


def derive(answers: Sequence[Answer] | None) -> Derived | None:
    """What the counting answers (one per annotator) say; None for a face without answers."""
    latest = latest_per_annotator(answers)
    if not latest:
        return None
    counts = answer_counts(a["label"] for a in latest.values())
    total = sum(counts)
    return Derived(counts, ferplus_majority(counts), round(max(counts) / total, 4))


def consensus_agreement(faces: Sequence[dict[str, str]]) -> dict[str, tuple[int, int]]:
    """Per annotator: (agreements, comparisons) with the consensus of the others.

    `faces`: per face, annotator -> the label that counts. The consensus an annotator is
    compared with is the plurality of the *other* annotators' labels on the same face (a tie:
    agreeing with any of the tied labels counts as agreement); faces nobody else answered are
    not compared."""
    out: dict[str, list[int]] = {}
    for face in faces:
        for who, label in face.items():
            others = Counter(lab for w, lab in face.items() if w != who)
            stat = out.setdefault(who, [0, 0])
            if not others:
                continue
            top = max(others.values())
            stat[0] += int(others.get(label, 0) == top)
            stat[1] += 1
    return {who: (a, n) for who, (a, n) in out.items()}


def annotator_matrix(faces: Sequence[dict[str, str]], annotators: Sequence[str]) -> np.ndarray:
    """(faces, annotators) class indices (CLASSES order) of the answers that count; NaN where an
    annotator gave none, or an answer that is none of the 7 classes (nonface, unsure,
    contempt): cleanlab.multiannotator's input."""
    col = {a: j for j, a in enumerate(annotators)}
    out = np.full((len(faces), len(annotators)), np.nan)
    for i, face in enumerate(faces):
        for who, label in face.items():
            if label in CLASS_INDEX and who in col:
                out[i, col[who]] = CLASS_INDEX[label]
    return out
