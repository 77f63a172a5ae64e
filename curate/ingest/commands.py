"""`curate ingest <source>`: thin commands over `curate.ingest.ingest`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.ingest import FERPLUS, SOURCES

ingest_app = typer.Typer(help="Bring a dataset into the store.", no_args_is_help=True)
console = Console()


# The closed choice, generated from the ingest registry.
Source = Enum("Source", {name: name for name in SOURCES}, type=str)  # type: ignore[misc]


def _ingest(ctx: typer.Context, source: Source, path: Path, workers: int) -> None:
    from curate.ingest import IngestConfig, ingest

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = IngestConfig(source=source.value, path=path, dataset=st.dataset,
                           workspace=st.workspace, workers=workers, progress=st.progress)
        report, out = ingest(cfg)
    verb = "updated" if source.value == FERPLUS else "added"
    console.print(f"[bold]{source.value}[/]: {verb} {report.added}, already present "
                  f"{report.already_present}, skipped {len(report.skipped)} "
                  f"in {report.seconds:.1f} s -> dataset {st.dataset!r}")
    if report.relinked:
        console.print(f"  relinked {report.relinked:>5}  samples whose file was gone: written or "
                      "found again (their labels, tags and fields kept)")
    for reason, n in _skip_reasons(report.skipped)[:10]:
        console.print(f"  skipped {n:>6}  {reason}")
    if report.info.get("no_votes"):
        console.print(f"  no votes {report.info['no_votes']:>5}  rows with empty vote cells "
                      "(their samples keep no votes)")
    console.print(f"report: {out}")


def _skip_reasons(skipped: list) -> list[tuple[str, int]]:  # list[curate.ingest.base.Skip]
    """(reason shortened to a line, count), most frequent first."""
    reasons: dict[str, int] = {}
    for s in skipped:
        key = s.reason if len(s.reason) < 60 else s.reason[:57] + "..."
        reasons[key] = reasons.get(key, 0) + 1
    return sorted(reasons.items(), key=lambda kv: -kv[1])


PathArg = Annotated[Path, typer.Argument(help="File or folder to ingest.")]
Workers = Annotated[int, typer.Option(help="Threads decoding/writing images.")]


@ingest_app.command("fer2013")
def ingest_fer2013(ctx: typer.Context, path: PathArg, workers: Workers = 2) -> None:
    """FER-2013: fer2013.csv[.gz], icml_face_data.csv, Kaggle train.csv, or train/<class>/ folders."""
    _ingest(ctx, Source("fer2013"), path, workers)


@ingest_app.command("rafdb")
def ingest_rafdb(ctx: typer.Context, path: PathArg, workers: Workers = 2) -> None:
    """RAF-DB basic: EmoLabel/ + Image/aligned/, or Kaggle DATASET/{train,test}/<1..7>/."""
    _ingest(ctx, Source("rafdb"), path, workers)


@ingest_app.command("ferplus")
def ingest_ferplus(ctx: typer.Context, path: PathArg) -> None:
    """FER+ votes (fer2013new.csv), matched by row to the ingested FER-2013 CSV."""
    _ingest(ctx, Source(FERPLUS), path, 1)


@ingest_app.command("folder")
def ingest_folder(ctx: typer.Context, path: PathArg, workers: Workers = 2) -> None:
    """Any <split>/<class>/* image tree (e.g. an imagefolder export)."""
    _ingest(ctx, Source("folder"), path, workers)


def register(app: typer.Typer) -> None:
    """Add `curate ingest <source>` to the `curate` app."""
    app.add_typer(ingest_app, name="ingest")
