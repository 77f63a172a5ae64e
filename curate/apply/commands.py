"""`curate apply`: a thin command over `curate.apply.apply_reviews` (its options: ApplyConfig)."""

from __future__ import annotations

import typer
from rich.console import Console

from curate.apply import apply_reviews
from curate.apply.config import ApplyConfig
from curate.core import options
from curate.core.clikit import state
from curate.core.errors import cli_errors

console = Console()


def _apply(ctx: typer.Context, cfg: ApplyConfig) -> None:
    """Commit review tags (review:drop, review:keep, review:relabel:<class>) to the samples."""
    with cli_errors(state(ctx).verbose):
        res = apply_reviews(cfg)
    console.print(res.summary())
    if res.warning:
        console.print(f"  warning: {res.warning}")
    if res.skipped_test:
        console.print(f"  {res.skipped_test} review tags on the test split left alone "
                      "(pass --include-test to apply them)")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("apply")(options.command(ApplyConfig, _apply))
