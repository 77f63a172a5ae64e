"""The curate review plugin for the FiftyOne App: a label-audit panel and review operators.

Thin, like the CLI: each operator reads its input, calls one library function
(`curate.review`, `curate.apply`) and says what it did. `curate app` registers this folder
(FIFTYONE_PLUGINS_DIR); to use it in an App you launch yourself, see docs/review.md.

Operators (the operator browser, key `, and the panel's buttons):
  accept_suggested, relabel_as, drop_samples, keep_label: a decision on the selected samples;
  undo_decision: take back your last one; commit_review: `curate apply`;
  next_review_batch: load the next batch of the review queue into the grid;
  run_stage: a curate stage (clean, restore, balance, export) as a delegated operation.
Panels: Label audit (below) and Answer faces (`curate.app.answering`: the answering mode, with
its key-press component in answer-keys.js).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import fiftyone.operators as foo
import fiftyone.operators.types as types

from curate import review
from curate.app.answering import AnswerFacesPanel
from curate.core.errors import CurateError
from curate.core.taxonomy import CLASSES
from curate.review.decisions import WORKSPACE_ENV

PLUGIN = "@curate/review"
DEFAULT_BATCH = 50
STAGES = ("clean", "restore", "balance", "export")


def _reviewer(ctx: Any) -> str:
    return (ctx.params.get("reviewer") or "").strip() or review.default_reviewer()


def _fail(ctx: Any, err: Exception) -> dict[str, str]:
    ctx.ops.notify(str(err), variant="error")
    return {"error": str(err)}


def _decide(ctx: Any, action: str, label: str | None = None) -> dict[str, Any]:
    """One decision on the App's selection, then the grid and the panel are refreshed."""
    try:
        res = review.decide(ctx.dataset, list(ctx.selected or []), action, label=label,
                            reviewer=_reviewer(ctx))
    except CurateError as err:
        return _fail(ctx, err)
    msg = res.summary(action) + f" by {res.reviewer}"
    ctx.ops.clear_selected_samples()
    ctx.ops.reload_dataset()
    ctx.ops.notify(msg, variant="success")
    return {"message": msg, "decided": res.decided, "batch": res.batch}


def _undo(ctx: Any) -> dict[str, Any]:
    """Take back the reviewer's last decision, then refresh the grid."""
    try:
        res = review.undo_last(ctx.dataset, _reviewer(ctx))
    except CurateError as err:
        return _fail(ctx, err)
    ctx.ops.reload_dataset()
    ctx.ops.notify(res.summary("undo"), variant="success")
    return {"message": res.summary("undo")}


def _reviewer_input(inputs: Any) -> None:
    inputs.str("reviewer", label="Reviewer", default=review.default_reviewer(),
               description="recorded with each decision")


def _selection_notice(ctx: Any, inputs: Any) -> bool:
    n = len(ctx.selected or [])
    if not n:
        inputs.view("none", types.Warning(label="No samples selected",
                                          description="Select samples in the grid first."))
        return False
    inputs.view("count", types.Notice(label=f"{n} selected samples"))
    return True


class _Decision(foo.Operator):
    name_ = ""
    action = ""
    title = ""
    help = ""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name=self.name_, label=self.title, description=self.help,
                                  dynamic=True)

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        _selection_notice(ctx, inputs)
        self.extra_inputs(inputs)
        _reviewer_input(inputs)
        return types.Property(inputs, view=types.View(label=self.title))

    def extra_inputs(self, inputs: Any) -> None:
        pass

    def execute(self, ctx: Any) -> dict[str, Any]:
        return _decide(ctx, self.action, ctx.params.get("label"))


class AcceptSuggested(_Decision):
    name_, action = "accept_suggested", "accept"
    title = "Review: accept the suggested label"
    help = "Relabel the selected samples as their suggested_label"


class RelabelAs(_Decision):
    name_, action = "relabel_as", "relabel"
    title = "Review: relabel as ..."
    help = "Relabel the selected samples as a class you choose"

    def extra_inputs(self, inputs: Any) -> None:
        inputs.enum("label", list(CLASSES), label="New label", required=True,
                    view=types.DropdownView())


class DropSamples(_Decision):
    name_, action = "drop_samples", "drop"
    title = "Review: drop"
    help = "Exclude the selected samples at commit (nothing is deleted)"


class KeepLabel(_Decision):
    name_, action = "keep_label", "keep"
    title = "Review: keep (not an issue)"
    help = "The selected samples' labels are right"


class UndoDecision(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name="undo_decision", label="Review: undo my last decision",
                                  dynamic=True)

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        _reviewer_input(inputs)
        return types.Property(inputs, view=types.View(label="Undo the last decision"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        return _undo(ctx)


class CommitReview(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name="commit_review", label="Review: commit (curate apply)",
                                  dynamic=True)

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        inputs.bool("auto", label="Also run the auto policy (apply --auto)", default=False)
        _reviewer_input(inputs)
        return types.Property(inputs, view=types.View(label="Commit the review decisions"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        from curate.apply import ApplyConfig, apply_reviews

        try:
            res = apply_reviews(ApplyConfig(dataset=ctx.dataset.name,
                                            auto=bool(ctx.params.get("auto")),
                                            user=_reviewer(ctx)))
        except CurateError as err:
            return _fail(ctx, err)
        ctx.ops.reload_dataset()
        ctx.ops.notify(res.summary(), variant="success")
        return {"message": res.summary()}


def load_batch(ctx: Any, size: int, order: str) -> dict[str, Any]:
    """Put the queue's next batch in the grid (most likely errors first)."""
    try:
        batch = review.review_queue(ctx.dataset, size=size, order=order)
    except CurateError as err:
        return _fail(ctx, err)
    if not batch.ids:
        ctx.ops.notify("the review queue is empty: every flag has a decision", variant="info")
        return {"ids": []}
    ctx.ops.set_view(view=ctx.dataset.select(batch.ids, ordered=True))
    msg = (f"next {len(batch.ids)} of {batch.remaining} flags left ({batch.order} order, "
           f"{batch.reviewed} reviewed)")
    ctx.ops.notify(msg, variant="info")
    return {"ids": batch.ids, "message": msg}


class NextReviewBatch(foo.Operator):
    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name="next_review_batch", label="Review: next batch",
                                  dynamic=True)

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        inputs.int("size", label="Batch size", default=DEFAULT_BATCH, min=1)
        inputs.enum("order", list(review.ORDERS), default="learning", label="Order",
                    view=types.RadioGroup())
        return types.Property(inputs, view=types.View(label="Next batch of the review queue"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        return load_batch(ctx, int(ctx.params.get("size") or DEFAULT_BATCH),
                          ctx.params.get("order") or "learning")


class RunStage(foo.Operator):
    """A stage through the CLI itself (same code, same run records), delegated when asked:
    `fiftyone delegated launch` runs it off the App server."""

    @property
    def config(self) -> foo.OperatorConfig:
        return foo.OperatorConfig(name="run_stage", label="Curate: run a stage",
                                  allow_delegated_execution=True, allow_immediate_execution=True,
                                  default_choice_to_delegated=True)

    def resolve_input(self, ctx: Any) -> types.Property:
        inputs = types.Object()
        inputs.enum("stage", list(STAGES), default="clean", label="Stage", required=True)
        inputs.str("args", label="Options", default="",
                   description="as on the command line, e.g. --checks labels")
        return types.Property(inputs, view=types.View(label="Run a curate stage"))

    def execute(self, ctx: Any) -> dict[str, Any]:
        stage = ctx.params.get("stage")
        if stage not in STAGES:
            return _fail(ctx, ValueError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}"))
        cmd = [sys.executable, "-m", "curate.cli", "--dataset", ctx.dataset.name,
               "--no-progress"]
        if os.environ.get(WORKSPACE_ENV):
            cmd += ["--workspace", os.environ[WORKSPACE_ENV]]
        cmd += [stage, *(ctx.params.get("args") or "").split()]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines: list[str] = []
        for line in proc.stdout or []:
            lines.append(line.rstrip())
            if ctx.delegated:  # the delegated run's progress, shown in the App's runs list
                ctx.set_progress(label=line.strip()[:120])
        code = proc.wait()
        ctx.ops.reload_dataset()
        ctx.ops.notify(f"curate {stage}: exit {code}", variant="success" if code == 0 else "error")
        return {"exit_code": code, "output": "\n".join(lines[-20:])}


class LabelAuditPanel(foo.Panel):
    @property
    def config(self) -> foo.PanelConfig:
        return foo.PanelConfig(name="label_audit", label="Label audit", icon="fact_check",
                               surfaces="grid")

    def on_load(self, ctx: Any) -> None:
        self.refresh(ctx)

    def refresh(self, ctx: Any) -> None:
        try:
            text = review.audit_markdown(review.audit(ctx.dataset))
        except CurateError as err:
            text = f"**{err}**"
        ctx.panel.set_state("audit", text)

    def next_batch(self, ctx: Any) -> None:
        load_batch(ctx, int(ctx.panel.get_state("queue.size") or DEFAULT_BATCH),
                   ctx.panel.get_state("queue.order") or "learning")

    def _act(self, ctx: Any, action: str, label: str | None = None) -> None:
        _decide(ctx, action, label)
        self.refresh(ctx)

    def accept(self, ctx: Any) -> None:
        self._act(ctx, "accept")

    def keep(self, ctx: Any) -> None:
        self._act(ctx, "keep")

    def drop(self, ctx: Any) -> None:
        self._act(ctx, "drop")

    def relabel(self, ctx: Any) -> None:
        self._act(ctx, "relabel", ctx.panel.get_state("relabel_row.relabel_class"))

    def undo(self, ctx: Any) -> None:
        _undo(ctx)
        self.refresh(ctx)

    def render(self, ctx: Any) -> types.Property:
        panel = types.Object()
        panel.md("**Label audit.** Flags per class with their estimated precision; select "
                 "faces in the grid, then decide. Decisions are committed by *Commit review* "
                 f"(`curate apply`). Reviewer: **{review.default_reviewer()}**", name="intro")
        queue = panel.h_stack("queue", align_y="center")
        queue.int("size", label="Batch", default=DEFAULT_BATCH, min=1)
        queue.enum("order", list(review.ORDERS), default="learning", label="Order",
                   view=types.DropdownView())
        queue.btn("next_batch", label="Next batch", icon="playlist_play", variant="contained",
                  on_click=self.next_batch)
        actions = panel.h_stack("actions", align_y="center")
        actions.btn("accept", label="Accept suggested", on_click=self.accept, variant="contained")
        actions.btn("keep", label="Keep", on_click=self.keep, variant="outlined")
        actions.btn("drop", label="Drop", on_click=self.drop, variant="outlined")
        actions.btn("undo", label="Undo", on_click=self.undo, variant="outlined")
        relabel = panel.h_stack("relabel_row", align_y="center")
        relabel.enum("relabel_class", list(CLASSES), label="Relabel as",
                     view=types.DropdownView())
        relabel.btn("relabel", label="Relabel", on_click=self.relabel, variant="outlined")
        panel.btn("commit", label="Commit review (curate apply)", icon="done_all",
                  on_click=f"{PLUGIN}/commit_review", prompt=True)
        panel.md(ctx.panel.get_state("audit") or "", name="audit")
        return types.Property(panel, view=types.GridView(orientation="vertical", gap=2))


def register(p: Any) -> None:
    for op in (AcceptSuggested, RelabelAs, DropSamples, KeepLabel, UndoDecision, CommitReview,
               NextReviewBatch, RunStage):
        p.register(op)
    p.register(LabelAuditPanel)
    p.register(AnswerFacesPanel)
