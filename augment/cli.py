"""`augment`: minority-class synthesis and classical augmentation. Global options as in `curate`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from augment.synth.models import FAMILIES
from augment.synth.stage import PLANS
from curate.core.clikit import LOCAL_ENGINE, Device, EngineName, global_options, pick_device, state
from curate.core.errors import cli_errors

if TYPE_CHECKING:
    from augment.synth.stage import SynthReport

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(global_options)
console = Console()

# Closed choices, generated from the registries they name (one list each, in the library).
Plan = Enum("Plan", {p: p for p in PLANS}, type=str)
Family = Enum("Family", {f: f for f in ("auto", *FAMILIES)}, type=str)


def _classes(value: str | None) -> tuple[str, ...]:
    return tuple(c.strip().lower() for c in value.split(",") if c.strip()) if value else ()


# `augment synth`'s options with long help texts, named here to keep the command short.
Model = Annotated[str, typer.Option(
    envvar="FER_CURATE_SYNTH_MODEL",
    help="Diffusers folder, single .safetensors checkpoint (with --config) or hub id.")]
PerClass = Annotated[int | None, typer.Option(
    help="Admitted images wanted per class (from this model, counting earlier runs).")]
PlanOpt = Annotated[Plan | None, typer.Option(
    help="balance: classes and counts from `curate balance`'s stored plan.")]
ConfigDir = Annotated[Path | None, typer.Option(
    help="Local diffusers folder of the architecture, for a single-file --model.")]
FamilyOpt = Annotated[Family, typer.Option(help="Model family (sets default steps/guidance).")]
Seed = Annotated[int, typer.Option(help="Base seed; image i of class c uses seed + offset(c, i).")]
TargetSize = Annotated[int | None, typer.Option(
    help="Rendered size [default: the real train images' size].")]
Margin = Annotated[float, typer.Option(
    help="Face crop margin per side, as a fraction of the face box.")]
Threshold = Annotated[float, typer.Option(
    help="Min reference-classifier probability of the intended class.")]
DupRadius = Annotated[int, typer.Option(
    help="pHash Hamming distance at or below which an image duplicates a real one.")]
MaxAttempts = Annotated[int | None, typer.Option(
    help="Seeds tried per class at most [default: 4 x the count wanted].")]
Prompts = Annotated[Path | None, typer.Option(
    help="TOML/JSON prompt file (class -> prompts) replacing the templates.")]


@app.command()
def synth(
    ctx: typer.Context,
    model: Model,
    classes: Annotated[str | None, typer.Option(
        help="Comma-separated classes, e.g. disgust,fear.")] = None,
    per_class: PerClass = None,
    plan: PlanOpt = None,
    config: ConfigDir = None,
    family: FamilyOpt = Family["auto"],
    steps: Annotated[int | None, typer.Option(help="Denoising steps [default: per family].")] = None,
    guidance: Annotated[float | None, typer.Option(
        help="Guidance scale [default: per family; 0 for turbo].")] = None,
    seed: Seed = 0,
    batch_size: Annotated[int, typer.Option(help="Images per pipeline call.")] = 1,
    size: Annotated[int | None, typer.Option(
        help="Generation size in px [default: the model's].")] = None,
    target_size: TargetSize = None,
    margin: Margin = 0.2,
    threshold: Threshold = 0.4,
    dup_radius: DupRadius = 6,
    max_attempts: MaxAttempts = None,
    prompts: Prompts = None,
    device: Device = "auto",
    engine: Annotated[EngineName, typer.Option(
        help="local: this process; ray: Ray Data actor pools, the model loaded once per actor "
             "(a local cluster, or the one at RAY_ADDRESS; one GPU per actor on CUDA). The same "
             "seeds tried and images admitted (docs/scale.md).")] = LOCAL_ENGINE,
    workers: Annotated[int, typer.Option(help="Actors with --engine ray.")] = 1,
) -> None:
    """Generate faces of rare classes, gate them (face, reference classifier, no near-duplicate
    of a real image, not blacked out) and admit those that pass as synthetic train samples.

    Exits 1 when images were generated but none passed the gate (the reasons are printed and
    the rejected images kept under media/synthetic/rejected/).
    """
    from augment.synth import SynthConfig, synthesize

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = SynthConfig(
            model=model, dataset=st.dataset, workspace=st.workspace, classes=_classes(classes),
            per_class=per_class, plan=plan.value if plan else None, config=config,
            family=family.value, steps=steps, guidance=guidance, seed=seed,
            batch_size=batch_size, size=size, target_size=target_size,
            margin=margin, max_attempts=max_attempts, prompts=prompts, threshold=threshold,
            dup_radius=dup_radius, device=pick_device(device), engine=engine.value,
            workers=workers, progress=st.progress)
        report = synthesize(cfg)
        _summary(report)
        failed = report.nothing_admitted()
        if failed:
            raise failed


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
