"""`curate balance`: a thin command over curate.balance.stage."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from curate.balance.plan import Plan
from curate.balance.stage import BalanceStageConfig
from curate.core import options
from curate.core.clikit import state
from curate.core.errors import CurateError, cli_errors
from curate.core.taxonomy import CLASSES, SPLITS

if TYPE_CHECKING:
    from curate.balance.stage import StageResult

console = Console()

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


def _balance(ctx: typer.Context, cfg: BalanceStageConfig, yes: bool = False) -> None:
    """Plan per-class train targets (undersample, augment, synthetic) and apply on confirmation."""
    from curate.balance.stage import run_balance

    def confirm(result: StageResult) -> bool:
        _show(result)
        return yes or typer.confirm("Apply?", default=False)

    with cli_errors(state(ctx).verbose):
        result = run_balance(cfg, confirm=confirm)
        if not (cfg.dry_run or result.written):
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
    yes = Annotated[bool, typer.Option("--yes", "-y", help="Apply without asking.")]
    app.command("balance")(options.command(BalanceStageConfig, _balance,
                                           extra={"yes": (yes, False)}))
