"""`curate export`: a thin command over curate.export.exporter."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.core.views import ViewName
from curate.export.exporter import FORMATS, ExportConfig

console = Console()

# The closed choice, generated from the exporter's registry of writers.
Format = Enum("Format", {f: f for f in FORMATS}, type=str)  # type: ignore[misc]
_FORMAT = Format("imagefolder")


def export(
    ctx: typer.Context,
    view: Annotated[ViewName, typer.Option(help="Which view to export.")] = ViewName.curated,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = _FORMAT,
    out: Annotated[Path | None, typer.Option(
        help="Output folder (default: <workspace>/exports/<dataset>-<view>-<format>).")] = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing output.")] = False,
    include_excluded: Annotated[bool, typer.Option(
        "--include-excluded", help="Keep excluded samples (curated view).")] = False,
    restored: Annotated[bool, typer.Option(help="Use restored files when present.")] = True,
    curate_test: Annotated[bool, typer.Option(
        "--curate-test", help="Apply exclusions/corrections/restoration to test too.")] = False,
    workers: Annotated[int, typer.Option(help="Threads copying/converting images.")] = 4,
) -> None:
    """Write a view (imagefolder, FER-2013 CSV, FiftyOne, HF) with manifest.csv and CARD.md."""
    from curate.export.exporter import export as run_export

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = ExportConfig(view=view.value, format=fmt.value, out=out, dataset=st.dataset,
                           workspace=st.workspace, overwrite=overwrite,
                           include_excluded=include_excluded, restored=restored,
                           curate_test=curate_test, workers=workers, progress=st.progress)
        res = run_export(cfg)
    per_split = ", ".join(f"{s} {n}" for s, n in sorted(res.counts.items()))
    if res.noop:
        console.print(f"{res.out} is up to date ({res.images} images, {per_split}): nothing to do")
        return
    console.print(f"[bold]{view.value}[/] -> {fmt.value}: {res.images} images ({per_split}) in "
                  f"{res.seconds:.1f} s -> {res.out}")
    if res.failures:
        console.print(f"{len(res.failures)} images could not be read (listed in CARD.md)")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("export")(export)
