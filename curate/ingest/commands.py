"""`curate ingest <source>`: thin commands over `curate.ingest.ingest`."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console

from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.ingest import FERPLUS, SOURCES, IngestConfig

ingest_app = typer.Typer(help="Bring a dataset into the store.", no_args_is_help=True)
console = Console()


def _ingest(ctx: typer.Context, cfg: IngestConfig) -> None:
    from curate.ingest import ingest

    with cli_errors(state(ctx).verbose):
        report, out = ingest(cfg)
    verb = "updated" if cfg.source == FERPLUS else "added"
    console.print(f"[bold]{cfg.source}[/]: {verb} {report.added}, already present "
                  f"{report.already_present}, skipped {len(report.skipped)} "
                  f"in {report.seconds:.1f} s -> dataset {cfg.dataset!r}")
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


# The help of each `curate ingest <source>`: what that source reads.
HELP = {
    "fer2013": "FER-2013: fer2013.csv[.gz], icml_face_data.csv, Kaggle train.csv, or "
               "train/<class>/ folders.",
    "rafdb": "RAF-DB basic: EmoLabel/ + Image/aligned/, or Kaggle DATASET/{train,test}/<1..7>/.",
    FERPLUS: "FER+ votes (fer2013new.csv), matched by row to the ingested FER-2013 CSV.",
    "folder": "Any <split>/<class>/* image tree (e.g. an imagefolder export).",
}


def _command(source: str) -> Callable[..., None]:
    """`curate ingest <source>`: IngestConfig's options with the source fixed (FER+ votes are
    attached in one thread: no --workers)."""
    one = source == FERPLUS
    cmd = options.command(IngestConfig, _ingest, fixed={"source": source, **({"workers": 1}
                                                                           if one else {})})
    cmd.__doc__ = HELP[source]
    return cmd


def register(app: typer.Typer) -> None:
    """Add `curate ingest <source>` to the `curate` app."""
    for source in SOURCES:
        ingest_app.command(source)(_command(source))
    app.add_typer(ingest_app, name="ingest")
