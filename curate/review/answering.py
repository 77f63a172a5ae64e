"""The App's answering mode: one face at a time, one key per answer, each answer stored at once.

`curate app --annotate [--task T] [--reviewer NAME]` opens the plugin's *Answer faces* panel on a
`curate annotate` task: the task's faces this annotator has not answered, in id order (stable
across sessions), one at a time, with no label shown until it is answered (no anchoring).
Keys (`KEYS`): 1-7 the classes in taxonomy order, N not a face, S skip (an `unsure` answer),
U undo. Each answer is appended to the answers store (`curate.votes.db.add`, via "app") the
moment it is given, so closing the App loses nothing.

Undo takes back the annotator's last answer *of this session* by deleting that answer record
(by its key) and refreshing the face's derived fields. The store is otherwise append-only; a
retraction record was the alternative, but an undone key press is a typo, not an opinion: a
record of it would be counted as an answer by every reader of the store that does not know
retractions. Only answers given in the open session (since the panel loaded) can be undone,
the latest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median
from typing import Any

from curate.core import runs, schema, store
from curate.core.errors import InputError
from curate.core.schema import ANSWERS, APP_VIA, ASK_TASK, NONFACE, UNSURE
from curate.core.taxonomy import CLASSES
from curate.votes import db
from curate.votes.answers import Answer, answer_key, make_answer, utc_naive

TASK_ENV = "CURATE_ANSWER_TASK"  # `curate app --annotate --task T` sets it for the App server
UNDO_KEY = "u"
KEYS: dict[str, str] = {**{str(k + 1): c for k, c in enumerate(CLASSES)}, "n": NONFACE,
                        "s": UNSURE}


def key_label(key: str) -> str | None:
    """The answer a key gives (case-insensitive); None for undo and for keys with no meaning."""
    return KEYS.get((key or "").strip().lower())


def key_legend() -> list[tuple[str, str]]:
    """(key, what it does) in display order: the classes, not a face, skip, undo."""
    return [*((k.upper(), "not a face" if v == NONFACE else "skip (unsure)" if v == UNSURE
               else v) for k, v in KEYS.items()), ("U", "undo")]


def next_face(order: list[str], answered: set[str], skip: str | None = None) -> str | None:
    """The first face of `order` not answered (and not `skip`); None when none is left."""
    return next((i for i in order if i not in answered and i != skip), None)


@dataclass(frozen=True)
class Progress:
    """How far the annotator is: answered of the task's faces, and this session's pace."""

    answered: int
    budget: int
    seconds: tuple[float, ...] = ()  # per answer of this session, shown -> answered

    @property
    def per_face(self) -> float | None:
        return median(self.seconds) if self.seconds else None

    def text(self) -> str:
        out = f"**{self.answered} / {self.budget}** answered"
        if self.per_face is not None:
            out += (f" · {self.per_face:.1f} s per face (this session's median, "
                    f"{60 / max(self.per_face, 1e-6):.0f} faces/min)")
        return out


def app_answer(sid: str, label: str, annotator: str, task: str,
               at: datetime | None = None) -> Answer:
    """An answer given in the App: its key names the event (task, annotator, face, time), so a
    retried write adds nothing and a later answer to the same face is a second record."""
    at = utc_naive(at)
    return make_answer(annotator=annotator, label=label, via=APP_VIA, task=task, at=at,
                       key=answer_key(APP_VIA, task, annotator, sid, at.isoformat()))


# --- on the database ------------------------------------------------------------------------------
def default_task(ds: Any) -> str:
    """The task of the last `curate annotate` run; InputError when none was chosen."""
    task = runs.last(ds, runs.ANNOTATE).config.get("task")
    if not task:
        raise InputError("no faces to answer: choose them first with `curate annotate "
                         "--budget N` (or pass --task)")
    return str(task)


def task_faces(ds: Any, task: str) -> list[str]:
    """The task's faces in id order; InputError when the task has none."""
    ds.reload()
    ids = sorted(ds.match({ASK_TASK: task}).values("id")) \
        if ASK_TASK in ds.get_field_schema() else []
    if not ids:
        raise InputError(f"task {task!r} has no faces: `curate annotate --task {task} "
                         "--budget N` chooses them")
    return ids


def answered_by(ds: Any, ids: list[str], annotator: str) -> set[str]:
    """The faces among `ids` with an answer (any source) by this annotator."""
    if ANSWERS not in ds.get_field_schema():
        return set()
    stored, _ = db.read(ds, ids)
    return {i for i, answers in zip(ids, stored, strict=True)
            if any(a.get("annotator") == annotator for a in answers)}


def session_answers(ds: Any, ids: list[str], annotator: str, task: str, since: datetime
                    ) -> list[tuple[str, Answer]]:
    """This session's answers in the App: (face, answer) of `annotator` on `task` given at or
    after `since`, oldest first. Read from the store, not from the App's panel state, so a
    key pressed while the panel's state is still being updated sees every answer."""
    if ANSWERS not in ds.get_field_schema():
        return []
    since = utc_naive(since)
    out = [(i, a) for i, answers in zip(ids, db.read(ds, ids)[0], strict=True) for a in answers
           if a.get("via") == APP_VIA and a.get("annotator") == annotator
           and a.get("task") == task and a.get("at") and a["at"] >= since]
    return sorted(out, key=lambda x: x[1]["at"])


def pace(answers: list[tuple[str, Answer]], since: datetime) -> tuple[float, ...]:
    """Seconds per answer: from the session's start or the previous answer to each; pure."""
    times = [utc_naive(since), *(a["at"] for _, a in answers)]
    return tuple(round((b - a).total_seconds(), 3) for a, b in zip(times, times[1:]))


def give(ds: Any, sid: str, label: str, annotator: str, task: str) -> Answer:
    """Store one answer now; returns it (its `key` takes it back)."""
    ds.reload()
    answer = app_answer(sid, label, annotator, task)
    db.add(ds, {sid: [answer]})
    return answer


def face_info(ds: Any, sid: str) -> dict[str, Any]:
    """A face's file and, for after it is answered, its source, current and suggested labels."""
    from curate.review.grid import grid_rows, label_of

    have = ds.get_field_schema()
    names = [schema.FILEPATH, schema.SOURCE, schema.ORIG_LABEL, schema.LABEL,
             *([schema.SUGGESTED_LABEL] if schema.SUGGESTED_LABEL in have else [])]
    row = [v[0] for v in store.values_by_id(ds, [sid], names)]
    sug = row[4] if len(row) > 4 else None
    given, (suggested, _) = grid_rows([row[1]], [row[2]], [row[3]], [sug])[0]
    return {"filepath": row[0], "given": given, "current": label_of(row[3]),
            "suggested": suggested}
