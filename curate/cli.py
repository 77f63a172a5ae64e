"""`curate`: the curation CLI. Thin commands: parse options, build a config, call the library,
print a summary. Global options (`--dataset`, `--workspace`, ...) come before the command.
"""

from __future__ import annotations

import dataclasses
import importlib
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curate.core.clikit import global_options, state
from curate.core.errors import cli_errors
from curate.core.taxonomy import CLASSES

app = typer.Typer(help="Curate facial-expression datasets on a FiftyOne store.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(global_options)
console = Console()


@app.command()
def status(ctx: typer.Context) -> None:
    """Counts per source / split / class, fields present, stages run."""
    from curate.status import dataset_status

    st = state(ctx)
    with cli_errors(st.verbose):
        s = dataset_status(st.dataset)
    console.print(f"dataset [bold]{s.dataset}[/]: {s.samples} samples")
    table = Table("source", "split", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  padding=(0, 1), collapse_padding=True)
    for name in (*CLASSES, "total"):
        table.add_column(name, justify="right", min_width=len(name))
    for (source, split) in sorted({(k[0], k[1]) for k in s.counts}):
        row = [s.counts.get((source, split, c), 0) for c in CLASSES]
        table.add_row(source, split, *map(str, row), str(sum(row)))
    console.print(table)
    console.print("fields: " + ", ".join(s.fields))
    if s.tags:
        console.print("tags: " + ", ".join(f"{t} ({n})" for t, n in sorted(s.tags.items())))
    for stage, run in s.runs.items():
        console.print(f"stage {stage}: last run {run.finished_at}")


class ReviewMode(str, Enum):
    label = "label"


@app.command("app")
def app_cmd(
    ctx: typer.Context,
    port: Annotated[int, typer.Option(help="Port of the App server.")] = 5151,
    address: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 for remote).")] = "127.0.0.1",
    review: Annotated[ReviewMode | None, typer.Option(
        help="Open on the review queue: 'label' = the label flags, most likely errors first.")
    ] = None,
    reviewer: Annotated[str, typer.Option(
        help="Your name on each review decision and answer (default: your login).")] = "",
    annotate: Annotated[bool, typer.Option(
        help="Open the answering mode: one face at a time, keys 1-7 / N / S / U.")] = False,
    task: Annotated[str, typer.Option(
        help="With --annotate: the `curate annotate` task to answer (default: the last).")] = "",
) -> None:
    """Open the FiftyOne App on the dataset, with saved views and the review plugin (label-audit
    panel, review operators, the answering mode); Ctrl-C stops it."""
    from curate.app import launch

    st = state(ctx)
    with cli_errors(st.verbose):
        where = ("answering mode (keys 1-7, N, S, U)" if annotate
                 else "review panel: + > Label audit")
        console.print(f"FiftyOne App on dataset {st.dataset!r}: http://{address}:{port}/ "
                      f"(Ctrl-C to stop); {where}")
        try:
            launch(st.dataset, port=port, address=address,
                   review=review.value if review else None, reviewer=reviewer or None,
                   workspace=st.workspace, annotate=annotate, task=task or None)
        except KeyboardInterrupt:
            console.print("App stopped")


def _given(ctx: typer.Context, option: str) -> bool:
    """Whether a global option was set by the user (not its default). By the enum's name: typer
    may bring its own copy of click's ParameterSource."""
    source = ctx.parent.get_parameter_source(option) if ctx.parent else None
    return source is not None and source.name != "DEFAULT"


@app.command()
def pipeline(
    ctx: typer.Context,
    config: Annotated[Path, typer.Option(exists=True, dir_okay=False,
                                         help="Pipeline TOML file (see pipelines/).")],
    start: Annotated[str | None, typer.Option("--from", help="First stage to run.")] = None,
    until: Annotated[str | None, typer.Option(help="Last stage to run.")] = None,
) -> None:
    """Run every stage from one config file, skipping stages already done; writes one report."""
    from curate.pipeline import load_config, run_pipeline

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = load_config(config)
        # the global --dataset / --workspace, when given, win over the file's keys
        given = {k: getattr(st, k) for k in ("dataset", "workspace") if _given(ctx, k)}
        result = run_pipeline(dataclasses.replace(cfg, **given), start, until, st.progress)
    table = Table("stage", "status", "seconds", "note", box=box.SIMPLE_HEAD, show_edge=False)
    for o in result.outcomes:
        table.add_row(o.stage, o.status, f"{o.seconds:.1f}", escape(o.reason))
    console.print(table)
    console.print(f"report: {result.report_md}\n        {result.report_html}")
    console.print(f"review in the App: curate --dataset {result.config.dataset} app")


# Stage commands live beside their stages; each module has `register(app)`. An explicit list,
# not a directory scan.
_STAGE_COMMANDS = ("curate.ingest.commands", "curate.votes.commands", "curate.annotate.commands",
                   "curate.clean.commands", "curate.apply.commands", "curate.restore.commands",
                   "curate.balance.commands", "curate.export.commands")
for _module in _STAGE_COMMANDS:
    importlib.import_module(_module).register(app)


if __name__ == "__main__":
    app()
