"""`curate balance`: a thin command over curate.balance.stage."""

from __future__ import annotations

from collections import Counter
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from curate.balance.plan import AUGMENT_MODES, BalanceConfig, Plan
from curate.core.clikit import state
from curate.core.errors import CurateError, cli_errors
from curate.core.taxonomy import CLASSES, SPLITS

if TYPE_CHECKING:
    from curate.balance.stage import BalanceStageConfig, StageResult

console = Console()

# The closed choice, generated from the planner's registry; defaults from its config.
Augment = Enum("Augment", {m: m for m in AUGMENT_MODES}, type=str)  # type: ignore[misc]
_AUGMENT = Augment(BalanceConfig().augment)


def plan_table(plan: Plan) -> Table:
    table = Table("split", "class", "real", "removed", "augmented", "synthetic",
                  "to synth", "final", title=f"balance plan (target {plan.config.target})")
    for split in SPLITS:
        for cls in CLASSES:
            r = plan.row(split, cls)
            table.add_row(split, cls, str(r.real), str(r.removed), str(r.augmented),
                          str(r.synthetic), str(r.synthetic_needed), str(r.final))
    return table


def split_table(counts: Counter) -> Table:
    """New splits: counts per (split, class)."""
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
    augment: Annotated[Augment, typer.Option(
        help="How rare-class copies are made: classical (rotation, shift, zoom, brightness) "
             "or copy (the parent's pixels: random oversampling, for trainers that augment "
             "every image themselves).")] = _AUGMENT,
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

    def confirm(result: StageResult) -> bool:
        _show(result)
        return yes or typer.confirm("Apply?", default=False)

    with cli_errors(st.verbose):
        cfg = BalanceStageConfig(
            target=target, max_synthetic=max_synthetic, max_augment=max_augment, seed=seed,
            undersample=undersample, augment=augment.value, dataset=st.dataset,
            workspace=st.workspace, resplit=resplit, val_fraction=val_fraction,
            test_fraction=test_fraction, dry_run=dry_run, progress=st.progress)
        result = run_balance(cfg, confirm=confirm)
        if not (dry_run or result.written):
            raise CurateError("not applied: nothing changed")  # declined at the prompt: exit 1
    _summary(result, cfg)


def _summary(result: StageResult, cfg: BalanceStageConfig) -> None:
    if cfg.dry_run:
        _show(result)
        console.print("dry run: nothing changed")
        return
    if cfg.resplit:
        console.print("splits written (the first re-split kept the old ones in `orig_split`)")
    a = result.applied
    if a is None:
        return
    verb = "nothing to do (already applied)" if a.noop else (
        f"created {a.created} augmented, marked {a.marked}, unmarked {a.unmarked}")
    console.print(f"balance: {verb} in {a.seconds:.1f} s")
    need = sum(r.synthetic_needed for r in result.plan.rows) if result.plan else 0
    if need:
        console.print(f"{need} synthetic images still needed: run "
                      "`augment synth --plan balance`")


def _show(result: StageResult) -> None:
    if result.split_counts is not None:
        console.print(split_table(result.split_counts))
    if result.plan is not None:
        console.print(plan_table(result.plan))


def register(app: typer.Typer) -> None:
    """Add `curate balance` to the `curate` app."""
    app.command("balance")(balance)
