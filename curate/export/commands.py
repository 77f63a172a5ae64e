"""`curate export`: a thin command over curate.export.exporter (its options: ExportConfig)."""

from __future__ import annotations

import typer
from rich.console import Console

from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.export.exporter import ExportConfig

console = Console()


def _export(ctx: typer.Context, cfg: ExportConfig) -> None:
    """Write a view (imagefolder, FER-2013 CSV, FiftyOne, HF) with manifest.csv and CARD.md."""
    from curate.export.exporter import export

    with cli_errors(state(ctx).verbose):
        res = export(cfg)
    per_split = ", ".join(f"{s} {n}" for s, n in sorted(res.counts.items()))
    if res.noop:
        console.print(f"{res.out} is up to date ({res.images} images, {per_split}): nothing to do")
        return
    console.print(f"[bold]{cfg.view}[/] -> {cfg.format}: {res.images} images ({per_split}) in "
                  f"{res.seconds:.1f} s -> {res.out}")
    if res.failures:
        console.print(f"{len(res.failures)} images could not be read (listed in CARD.md)")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("export")(options.command(ExportConfig, _export))
