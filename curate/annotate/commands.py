"""`curate annotate`: a thin command over curate.annotate.stage (its options: AnnotateConfig)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from curate.annotate.config import AnnotateConfig
from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors

if TYPE_CHECKING:
    from curate.annotate.labelstudio import LoadResult

console = Console()


def _annotate(ctx: typer.Context, cfg: AnnotateConfig) -> None:
    """Choose faces to ask about among those with no answer yet; they wait as a named task
    (with --backend labelstudio, also as a Label Studio project; --load brings its answers
    back)."""
    from curate.annotate.stage import run_annotate, run_load

    with cli_errors(state(ctx).verbose):
        if cfg.load:
            for lr in run_load(cfg):
                _print_load(lr)
            return
        r = run_annotate(cfg)
    total = len(r.calibrate) + len(r.judge)
    if r.existing:
        console.print(f"task [bold]{r.task}[/]: already chosen ({total} faces: "
                      f"{len(r.calibrate)} calibrate, {len(r.judge)} judge); nothing written")
    else:
        console.print(f"task [bold]{r.task}[/]: {total} of {r.candidates} candidates chosen "
                      f"({len(r.calibrate)} calibrate by {cfg.strategy}, {len(r.judge)} judge "
                      f"at random), {r.written} written in {r.seconds:.1f} s")
    if r.sent is not None:
        s = r.sent
        console.print(f"  Label Studio project {s.project}{' (new)' if s.created else ''}: "
                      f"{s.sent} faces sent, {s.already} there already, {cfg.annotators} "
                      f"answer(s) each, in {s.seconds:.1f} s: {s.url}")
        console.print("  answers come back with `curate annotate --load`")
    else:
        console.print(f"  in the App: the tag ask:{r.task}; answers come back with "
                      "`curate votes import`")
    if r.export is not None:
        console.print(f"tasks: {r.export}")


def _print_load(r: LoadResult) -> None:
    console.print(f"task [bold]{r.task}[/] (Label Studio project {r.project}): "
                  f"{r.annotations} annotations on {r.answered} of {r.faces} faces, "
                  f"{r.added} answers added, {r.annotations - r.unreadable - r.added} already "
                  f"present, in {r.seconds:.1f} s")
    notes = [f"{r.deleted} faces' tasks deleted on the server" if r.deleted else "",
             f"{r.skipped} skipped or empty annotations" if r.skipped else "",
             f"{r.unreadable} with no answer label" if r.unreadable else "",
             f"{r.unknown_tasks} tasks naming no face of the task" if r.unknown_tasks else ""]
    if any(notes):
        console.print("  " + "; ".join(n for n in notes if n))


def register(app: typer.Typer) -> None:
    """Add `curate annotate` to the `curate` app."""
    app.command("annotate")(options.command(AnnotateConfig, _annotate))
