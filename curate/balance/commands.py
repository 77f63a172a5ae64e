"""`curate balance`: a thin command over curate.balance.stage."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from curate.core.clikit import state
from curate.core.errors import cli_errors
from curate.core.taxonomy import CLASSES, SPLITS

console = Console()


def plan_table(plan) -> Table:  # noqa: ANN001 - curate.balance.Plan
    table = Table("split", "class", "real", "removed", "augmented", "synthetic",
                  "to synth", "final", title=f"balance plan (target {plan.config.target})")
    for split in SPLITS:
        for cls in CLASSES:
            r = plan.row(split, cls)
            table.add_row(split, cls, str(r.real), str(r.removed), str(r.augmented),
                          str(r.synthetic), str(r.synthetic_needed), str(r.final))
    return table


def split_table(counts) -> Table:  # noqa: ANN001 - Counter[(split, class)]
    table = Table("split", *CLASSES, "total", title="new splits (real samples)")
    for split in SPLITS:
        row = [counts.get((split, c), 0) for c in CLASSES]
        table.add_row(split, *map(str, row), str(sum(row)))
    return table


def balance(
    ctx: typer.Context,
    target: Annotated[int | None, typer.Option(
        help="Train images per class after balancing.")] = None,
    max_synthetic: Annotated[float, typer.Option(
        help="Largest fraction of a class's final train count that may be synthetic.")] = 0.0,
    max_augment: Annotated[float, typer.Option(
        help="Most classical-augmentation copies per real train image.")] = 4.0,
    seed: Annotated[int, typer.Option(help="Seed of every choice (undersampling, "
                                           "augmentation, re-split).")] = 0,
    undersample: Annotated[bool, typer.Option(
        help="Cut classes above --target down to it (--no-undersample: the target is a floor "
             "and larger classes keep every image).")] = True,
    augment: Annotated[str, typer.Option(
        help="How rare-class copies are made: classical (rotation, shift, zoom, brightness) "
             "or copy (the parent's pixels: random oversampling, for trainers that augment "
             "every image themselves).")] = "classical",
    resplit: Annotated[bool, typer.Option(
        "--resplit",
        help="New stratified train/val/test, duplicate groups kept together.")] = False,
    val_fraction: Annotated[float, typer.Option(help="Val share for --resplit.")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Test share for --resplit.")] = 0.1,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan, change nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")] = False,
) -> None:
    """Plan per-class train targets (undersample, augment, synthetic) and apply on confirmation."""
    from curate.balance.stage import BalanceStageConfig, run_balance

    st = state(ctx)

    def confirm(result) -> bool:  # noqa: ANN001
        _show(result)
        return yes or typer.confirm("Apply?", default=False)

    with cli_errors(st.verbose):
        cfg = BalanceStageConfig(target, max_synthetic, max_augment, seed, undersample, augment,
                                 st.dataset, st.workspace, resplit, val_fraction, test_fraction,
                                 dry_run, st.progress)
        result = run_balance(cfg, confirm=confirm)
    if dry_run:
        _show(result)
        console.print("dry run: nothing changed")
        return
    if not result.written:
        console.print("not applied: nothing changed")
        raise typer.Exit(1)
    if resplit:
        console.print("splits written (the first re-split kept the old ones in `orig_split`)")
    a = result.applied
    if a is not None:
        verb = "nothing to do (already applied)" if a.noop else (
            f"created {a.created} augmented, marked {a.marked}, unmarked {a.unmarked}")
        console.print(f"balance: {verb} in {a.seconds:.1f} s")
        need = sum(r.synthetic_needed for r in result.plan.rows)
        if need:
            console.print(f"{need} synthetic images still needed: run "
                          "`augment synth --plan balance`")


def _show(result) -> None:  # noqa: ANN001
    if result.split_counts is not None:
        console.print(split_table(result.split_counts))
    if result.plan is not None:
        console.print(plan_table(result.plan))


def register(app: typer.Typer) -> None:
    """Add `curate balance` to the `curate` app."""
    app.command("balance")(balance)
