"""`curate apply`: a thin command over `curate.apply.apply_reviews`."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from curate.apply import apply_reviews
from curate.apply.config import LABEL_POLICIES, SOFT_SOURCES, ApplyConfig
from curate.core.clikit import state
from curate.core.errors import cli_errors

console = Console()
# The closed choices, generated from the library's registries.
LabelPolicy = Enum("LabelPolicy", {p: p for p in LABEL_POLICIES}, type=str)  # type: ignore[misc]
SoftSource = Enum("SoftSource", {p: p for p in SOFT_SOURCES}, type=str)  # type: ignore[misc]


def apply_cmd(
    ctx: typer.Context,
    auto: Annotated[bool, typer.Option(
        "--auto", help="Also drop from train/val the exact copies of test (val) images and "
        "the duplicates with conflicting labels, and relabel a sample where the label check "
        "finds its suggested class more probable than its label.")] = False,
    include_test: Annotated[bool, typer.Option(
        "--include-test", help="Allow changes to the test split (never by default).")] = False,
    user: Annotated[str, typer.Option(
        help="Who made the decisions, for the run history (default: your login).")] = "",
    soften: Annotated[float | None, typer.Option(
        help="Soft labels for train/val: (1 - A) * label + A * --soft-from's distribution "
        "(needs `curate clean --checks labels`); 0 removes them (default: the last apply's)",
        min=0.0, max=0.99)] = None,
    labels: Annotated[LabelPolicy | None, typer.Option(
        help="'crowd': take the crowd's consensus label where FER+ votes exist (`crowd_label`); "
        "'given': keep the labels (default: the last apply's, else given)")] = None,
    soft_from: Annotated[SoftSource | None, typer.Option(
        help="What --soften mixes in: 'model' (the label check's P(true class | image, "
        "label)) or 'votes' (the FER+ vote shares where votes exist, the model elsewhere) "
        "(default: the last apply's, else model)")] = None,
) -> None:
    """Commit review tags (review:drop, review:keep, review:relabel:<class>) to the samples."""
    st = state(ctx)
    with cli_errors(st.verbose):
        res = apply_reviews(ApplyConfig(
            dataset=st.dataset, auto=auto, include_test=include_test, user=user, soften=soften,
            labels=labels.value if labels else None,
            soft_from=soft_from.value if soft_from else None))
    console.print(res.summary())
    if res.warning:
        console.print(f"  warning: {res.warning}")
    if res.skipped_test:
        console.print(f"  {res.skipped_test} review tags on the test split left alone "
                      "(pass --include-test to apply them)")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("apply")(apply_cmd)
