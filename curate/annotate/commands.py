"""`curate annotate`: a thin command over curate.annotate.stage."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from curate.annotate.config import DEFAULT_HOLDOUT
from curate.annotate.strategies import DEFAULT_STRATEGY, STRATEGIES
from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.core.taxonomy import EDITABLE_SPLITS

console = Console()
# The closed choice, generated from the strategies' registry.
Strategy = Enum("Strategy", {s: s for s in STRATEGIES}, type=str)  # type: ignore[misc]
_STRATEGY = Strategy(DEFAULT_STRATEGY)


def annotate(
    ctx: typer.Context,
    budget: Annotated[int, typer.Option(help="How many faces to ask about.")],
    strategy: Annotated[Strategy, typer.Option(
        help="How the faces that calibrate are chosen: random (the unbiased baseline), "
             "activelab (cleanlab's ActiveLab scores, lowest first), stratified (over the "
             "label check's given x suggested cells, more where they disagree).")
    ] = _STRATEGY,
    holdout: Annotated[float, typer.Option(
        help="Share of the budget drawn at random that only judges (never calibrates).")
    ] = DEFAULT_HOLDOUT,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    split: Annotated[str, typer.Option(
        help="Comma-separated splits to choose from.")] = ",".join(EDITABLE_SPLITS),
    task: Annotated[str, typer.Option(
        help="The task's name (default annotate-<budget>-<strategy>-s<seed>).")] = "",
    export: Annotated[Path | None, typer.Option(
        help="Also write the task as a CSV (sample_id, source_id, filepath, task, role) for "
             "an outside tool; its answers come back with `curate votes import`.")] = None,
) -> None:
    """Choose faces to ask about among those with no answer yet; they wait as a named task."""
    from curate.annotate.config import AnnotateConfig
    from curate.annotate.stage import run_annotate

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = AnnotateConfig(budget=budget, strategy=strategy.value, holdout=holdout, seed=seed,
                             splits=tuple(s.strip() for s in split.split(",") if s.strip()),
                             task=task, export=export, dataset=st.dataset,
                             workspace=st.workspace)
        r = run_annotate(cfg)
    total = len(r.calibrate) + len(r.judge)
    if r.existing:
        console.print(f"task [bold]{r.task}[/]: already chosen ({total} faces: "
                      f"{len(r.calibrate)} calibrate, {len(r.judge)} judge); nothing written")
    else:
        console.print(f"task [bold]{r.task}[/]: {total} of {r.candidates} candidates chosen "
                      f"({len(r.calibrate)} calibrate by {cfg.strategy}, {len(r.judge)} judge "
                      f"at random), {r.written} written in {r.seconds:.1f} s")
    console.print(f"  in the App: the tag ask:{r.task}; answers come back with "
                  "`curate votes import`")
    if r.export is not None:
        console.print(f"tasks: {r.export}")


def register(app: typer.Typer) -> None:
    """Add `curate annotate` to the `curate` app."""
    app.command("annotate")(annotate)
