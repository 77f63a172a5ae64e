"""`curate votes import|status`: thin commands over curate.votes.stage."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.votes.config import VotesImportConfig

console = Console()
votes_app = typer.Typer(help="The answers store: import answers, see who answered what.",
                        no_args_is_help=True)


def _import(ctx: typer.Context, cfg: VotesImportConfig) -> None:
    """Add a table of answers to the store (a re-import adds nothing)."""
    from curate.votes.stage import import_answers

    with cli_errors(state(ctx).verbose):
        report, out = import_answers(cfg)
    console.print(f"[bold]votes import[/] ({report.format}): {report.answers_added} answers "
                  f"added, {report.already_present} already present, {report.unknown} for "
                  f"unknown samples (skipped); {report.samples_changed} samples' votes changed "
                  f"in {report.seconds:.1f} s -> dataset {cfg.dataset!r}")
    if report.unknown_lines:
        console.print("  unknown samples on lines " + ", ".join(map(str, report.unknown_lines))
                      + (" ..." if report.unknown > len(report.unknown_lines) else ""))
    if report.splits:
        console.print("  answers per split: " + ", ".join(
            f"{k or '?'} {v}" for k, v in sorted(report.splits.items())))
    console.print(f"report: {out}")


@votes_app.command("status")
def status_cmd(ctx: typer.Context) -> None:
    """Per annotator: answers, samples, agreement with the consensus, CROWDLAB quality."""
    from curate.votes.config import VotesStatusConfig
    from curate.votes.stage import answer_status

    st = state(ctx)
    with cli_errors(st.verbose):
        s = answer_status(VotesStatusConfig(dataset=st.dataset, workspace=st.workspace))
    console.print(f"dataset [bold]{s.dataset}[/]: {s.samples} samples with answers")
    table = Table("annotator", "via", "answers", "samples", "agreement", "compared",
                  "CROWDLAB quality", title="answers per annotator")
    for r in s.annotators:
        table.add_row(escape(r.annotator), ",".join(r.vias), str(r.answers), str(r.samples),
                      "-" if r.agreement is None else f"{r.agreement:.3f}", str(r.compared),
                      "-" if r.quality is None else f"{r.quality:.3f}")
    console.print(table)
    via = Table("via", "answers", title="answers per source")
    for k, n in sorted(s.by_via.items()):
        via.add_row(k, str(n))
    via.add_row("total", str(sum(s.by_via.values())))
    console.print(via)
    console.print("agreement: with the plurality of the other annotators' answers on the same "
                  "face")
    if s.quality_note:
        console.print(f"CROWDLAB quality: {s.quality_note}")


votes_app.command("import")(options.command(VotesImportConfig, _import))


def register(app: typer.Typer) -> None:
    """Add `curate votes` to the `curate` app."""
    app.add_typer(votes_app, name="votes")
