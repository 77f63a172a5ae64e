"""`curate restore`: a thin command over `curate.restore.restore` (its options: RestoreConfig)."""

from __future__ import annotations

import typer
from rich.console import Console

from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.restore.check import TAG as CHANGED_TAG
from curate.restore.stage import RestoreConfig, RestoreResult

console = Console()


def _restore(ctx: typer.Context, cfg: RestoreConfig) -> None:
    """Restore and upsample faces (GFPGAN or classical); resumable; flags changed expressions."""
    from curate.restore import restore

    with cli_errors(state(ctx).verbose):
        res = restore(cfg)
    _summary(cfg.tag, res)


def _summary(tag: str, res: RestoreResult) -> None:
    if res.unchanged:
        console.print(f"restore {tag}: unchanged since the last run ({res.selected} samples); "
                      "nothing to do")
    else:
        console.print(f"restore [bold]{tag}[/]: restored {res.restored}, already done "
                      f"{res.already_done}, skipped {len(res.skipped)} of {res.selected} "
                      f"in {res.seconds:.1f} s -> {res.out_dir}")
    if res.weights:
        w = res.weights
        state_ = f"verified {w.name}" if w.verified else "UNVERIFIED (not a known release)"
        console.print(f"weights: {w.path} sha256 {w.sha256} ({state_})")
    for s in res.skipped[:10]:
        console.print(f"  skipped {s.file}: {s.reason}")
    c = res.check
    if c.done:
        console.print(f"expression check: {c.changed} of {c.checked} predictions changed "
                      f"({c.rate:.1%}), tagged {c.tag or CHANGED_TAG}")
    elif c.status:
        console.print(f"expression check: {c.status}")
    if res.report:
        console.print(f"report: {res.report}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("restore")(options.command(RestoreConfig, _restore))
