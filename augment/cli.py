"""`augment`: minority-class synthesis and classical augmentation. Global options as in `curate`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from augment.synth.stage import SynthConfig
from curate.core import options
from curate.core.clikit import global_options, state
from curate.core.errors import cli_errors

if TYPE_CHECKING:
    from augment.synth.stage import SynthReport

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(global_options)
console = Console()

def _synth(ctx: typer.Context, cfg: SynthConfig) -> None:
    """Generate faces of rare classes, gate them (face, reference classifier, no near-duplicate
    of a real image, not blacked out) and admit those that pass as synthetic train samples.

    Exits 1 when images were generated but none passed the gate (the reasons are printed and
    the rejected images kept under media/synthetic/rejected/).
    """
    from augment.synth import synthesize

    with cli_errors(state(ctx).verbose):
        report = synthesize(cfg)
        _summary(report)
        failed = report.nothing_admitted()
        if failed:
            raise failed


app.command("synth")(options.command(SynthConfig, _synth))


def _summary(report: SynthReport) -> None:
    m = report.model
    safety = {True: "on", False: "absent", None: "n/a"}[m.get("safety_checker")]
    console.print(f"[bold]synth[/] model {m['id']} ({m['family']}, sha256 {m['sha256'][:12]}, "
                  f"safety checker {safety}), steps {report.settings['steps']}, guidance "
                  f"{report.settings['guidance']} -> dataset {report.dataset!r}")
    table = Table("class", "wanted", "before", "generated", "admitted", "rejected: reasons")
    for c, t in report.classes.items():
        why = ", ".join(f"{r} {n}" for r, n in t.reasons.most_common()) or "-"
        table.add_row(c, str(t.target), str(t.already), str(t.attempted), str(t.admitted), why)
    console.print(table)
    if not report.attempted:
        console.print("nothing to do: every class already has its images from this model "
                      "(or its seed range is used up)")
    else:
        console.print(f"{report.attempted} generated in {report.generate_seconds:.1f} s, gate "
                      f"{report.gate_seconds:.1f} s, total {report.seconds:.1f} s")
    console.print(f"report: {report.settings.get('report')}")


if __name__ == "__main__":
    app()
