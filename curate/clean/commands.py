"""`curate clean`: a thin command over curate.clean (its options: curate.clean.config)."""

from __future__ import annotations

import typer
from rich.console import Console

from curate.clean import CleanResult
from curate.clean.config import CleanConfig
from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors

console = Console()


def _clean(ctx: typer.Context, cfg: CleanConfig) -> None:
    """Find duplicates and leakage, low-quality and non-face images, and label issues."""
    from curate.clean import clean

    with cli_errors(state(ctx).verbose):
        res = clean(cfg)
    _print_result(res, cfg.dataset)


def _print_result(res: CleanResult, dataset: str) -> None:
    from curate.clean.report import fmt

    if res.noop:
        console.print(f"clean: nothing to do: {', '.join(res.skipped)} already ran with the "
                      f"same settings and samples ({res.samples} samples, dataset {dataset!r})")
        return
    console.print(f"[bold]clean[/] on {res.samples} samples of {dataset!r} "
                  f"in {res.seconds:.1f} s")
    for name, done in res.ran.items():
        shown = {k: v for k, v in done.stats.items() if not isinstance(v, dict)}
        console.print(f"  {name}: " + ", ".join(f"{k} {fmt(k, v)}" for k, v in shown.items()))
        if done.tagged:
            console.print("    tagged: " + ", ".join(f"{k} {v}" for k, v in done.tagged.items()))
    for name in res.skipped:
        console.print(f"  {name}: unchanged since its last run (skipped)")
    console.print(f"report: {res.report}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("clean")(options.command(CleanConfig, _clean))
