"""The *Answer faces* panel of the review plugin: the App's answering mode (docs/review.md).

Thin: each event calls `curate.review.answering` and re-renders. The face and its keys are
drawn by the plugin's own component `CurateAnswerFace` (`plugins/review/answer-keys.js`): a
Python panel only gets clicks and form changes, so that small script listens for key presses
while the panel is open and sends each one to `on_key` (the same method the buttons call).

Panel state: `task`, `annotator`, `started_at` (the session's start: what U may take back),
`face` and `src` (shown now), `budget`, `answered` and `seconds` (read from the store after
each event), `last` (the previous face's labels, revealed once it is answered), `seq` (one more
per event: the component's sign that its key was handled). A key carries the face it was
pressed on, and undo reads the session's answers from the store: the App's copy of the panel
state may lag a key pressed right after the previous one. The rendered properties have other
names (`*_md`, `face_view`, `key_row`): a panel's state at a property's path is its value.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import fiftyone.operators as foo
import fiftyone.operators.types as types

from curate.core.errors import CurateError
from curate.review import answering
from curate.review.decisions import default_reviewer
from curate.votes import db

COMPONENT = "CurateAnswerFace"
PANEL = "answer_faces"


def _fail(ctx: Any, err: Exception) -> None:
    ctx.ops.notify(str(err), variant="error")
    ctx.panel.state.set("error", str(err))


class AnswerFacesPanel(foo.Panel):
    @property
    def config(self) -> foo.PanelConfig:
        return foo.PanelConfig(name=PANEL, label="Answer faces", icon="keyboard",
                               surfaces="grid")

    def on_load(self, ctx: Any) -> None:
        import os

        try:
            task = (os.environ.get(answering.TASK_ENV, "").strip()
                    or answering.default_task(ctx.dataset))
            ctx.panel.state.set({"task": task, "annotator": default_reviewer(), "seq": 0,
                                 "started_at": time.time(), "last": None, "error": None})
            self._show(ctx)
        except CurateError as err:
            _fail(ctx, err)

    def _show(self, ctx: Any, face: str | None = None) -> None:
        """Show `face`, or the first face of the task this annotator has not answered, with
        the progress read from the store."""
        st = ctx.panel.state
        order = answering.task_faces(ctx.dataset, st.task)
        done = answering.answered_by(ctx.dataset, order, st.annotator)
        face = face or answering.next_face(order, done)
        since = datetime.fromtimestamp(float(st.started_at or time.time()), UTC)
        session = answering.session_answers(ctx.dataset, order, st.annotator, st.task, since)
        ctx.panel.state.set({"budget": len(order), "answered": len(done - {face}),
                             "seconds": list(answering.pace(session, since)), "face": face,
                             "src": self._src(ctx, face)})

    @staticmethod
    def _src(ctx: Any, face: str | None) -> str | None:
        if face is None:
            return None
        path = answering.face_info(ctx.dataset, face)["filepath"]
        return f"/media?filepath={quote(path, safe='')}"

    def on_key(self, ctx: Any) -> None:
        """One key (a key press or a button): answer the face it was pressed on, or undo."""
        st = ctx.panel.state
        key = str(ctx.params.get("key") or "").lower()
        face = str(ctx.params.get("face") or "")
        try:
            if key == answering.UNDO_KEY:
                self._undo(ctx)
            elif answering.key_label(key) and face:
                self._answer(ctx, face, answering.key_label(key) or "")
        except CurateError as err:
            _fail(ctx, err)
        ctx.panel.state.set("seq", int(st.seq or 0) + 1)

    def _answer(self, ctx: Any, face: str, label: str) -> None:
        """Store the answer, unless the face is not the task's or already has this
        annotator's answer (a key pressed twice before the next face came)."""
        st = ctx.panel.state
        order = answering.task_faces(ctx.dataset, st.task)
        if face not in order or answering.answered_by(ctx.dataset, [face], st.annotator):
            return
        answering.give(ctx.dataset, face, label, st.annotator, st.task)
        ctx.panel.state.set("last", {**answering.face_info(ctx.dataset, face), "answer": label})
        self._show(ctx)

    def _undo(self, ctx: Any) -> None:
        """Take back this session's latest answer and ask that face again at once."""
        st = ctx.panel.state
        since = datetime.fromtimestamp(float(st.started_at or time.time()), UTC)
        order = answering.task_faces(ctx.dataset, st.task)
        session = answering.session_answers(ctx.dataset, order, st.annotator, st.task, since)
        if not session:
            ctx.ops.notify("nothing to undo in this session", variant="info")
            return
        face, answer = session[-1]
        db.remove(ctx.dataset, face, answer["key"])
        ctx.panel.state.set("last", None)
        self._show(ctx, face)
        ctx.ops.notify(f"undone: {answer['label']}", variant="info")

    def render(self, ctx: Any) -> types.Property:
        st = ctx.panel.state
        panel = types.Object()
        progress = answering.Progress(int(st.answered or 0), int(st.budget or 0),
                                      tuple(st.seconds or ()))
        panel.md(f"**Answer faces** · task `{st.task}` · annotator **{st.annotator}** · "
                 f"{progress.text()}", name="progress_md")
        if st.error:
            panel.md(f"**{st.error}**", name="error_md")
        panel.view("face_view", types.ComponentView(
            COMPONENT, face=st.face or "", src=st.src or "", seq=int(st.seq or 0),
            keys=[*answering.KEYS, answering.UNDO_KEY], on_key=self.on_key,
            empty="Every face of this task has your answer." if st.budget else ""))
        keys = panel.h_stack("key_row", align_y="center")
        for key, what in answering.key_legend():
            keys.btn(f"key_{key.lower()}", label=f"{key} {what}", on_click=self.on_key,
                     params={"key": key.lower(), "face": st.face or ""}, variant="outlined")
        panel.md(self._last_text(st.last), name="last_md")
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))

    @staticmethod
    def _last_text(last: dict[str, Any] | None) -> str:
        """The previous face's labels, shown only once it is answered (no anchoring)."""
        if not last:
            return "Labels stay hidden until you answer; the previous face's appear here."
        return (f"Previous face: you said **{last['answer']}** · the source's label "
                f"**{last.get('given') or '-'}** · current **{last.get('current') or '-'}** · "
                f"suggested **{last.get('suggested') or '-'}**")
