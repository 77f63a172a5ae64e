"""`curate clean` and `curate apply`: thin commands over curate.clean and curate.apply."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from curate.core.clikit import pick_device, state
from curate.core.errors import cli_errors

console = Console()


def _split_list(values: list[str] | None) -> tuple[str, ...]:
    from curate.core.taxonomy import SPLITS

    if not values:
        return SPLITS
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


def clean_cmd(
    ctx: typer.Context,
    checks: Annotated[str, typer.Option(
        help="Comma-separated checks: duplicates, quality, labels.")] = "duplicates,quality,labels",
    fast: Annotated[bool, typer.Option("--fast", help="The CPU-budget profile.")] = False,
    radius: Annotated[int, typer.Option(
        help="Hamming radius (bits of 64) for near-duplicate pHashes.")] = 4,
    split: Annotated[list[str] | None, typer.Option(
        "--split", "--splits",
        help="Split(s) to check (repeat or comma-separate) [default: all].")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (labels check).")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for every RNG of the labels check.")] = 0,
    workers: Annotated[int, typer.Option(help="Processes reading and hashing images.")] = 2,
    folds: Annotated[int | None, typer.Option(
        help="Labels check: K of the K-fold training [default: 5; 3 with --fast].")] = None,
    epochs: Annotated[int | None, typer.Option(
        help="Labels check: epochs per fold [default: 6; 2 with --fast].")] = None,
) -> None:
    """Find duplicates and leakage, low-quality and non-face images, and label issues."""
    from curate.clean import CleanConfig, clean

    st = state(ctx)
    with cli_errors(st.verbose):
        names = tuple(c.strip() for c in checks.split(",") if c.strip())
        cfg = CleanConfig(st.dataset, st.workspace, names, fast, radius, _split_list(split),
                          pick_device(device), seed, workers, st.progress, folds, epochs)
        res = clean(cfg)
    if res.noop:
        console.print(f"clean: nothing to do: {', '.join(res.skipped)} already ran with the "
                      f"same settings and samples ({res.samples} samples, dataset {st.dataset!r})")
        return
    console.print(f"[bold]clean[/] on {res.samples} samples of {st.dataset!r} "
                  f"in {res.seconds:.1f} s")
    for name, counts in res.ran.items():
        tagged = counts.get("tagged") or {}
        shown = {k: v for k, v in counts.items() if not isinstance(v, dict)}
        console.print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in shown.items()))
        if tagged:
            console.print("    tagged: " + ", ".join(f"{k} {v}" for k, v in tagged.items()))
    for name in res.skipped:
        console.print(f"  {name}: unchanged since its last run (skipped)")
    console.print(f"report: {res.report}")


def apply_cmd(
    ctx: typer.Context,
    auto: Annotated[bool, typer.Option(
        "--auto", help="Also drop from train/val the exact copies of test (val) images and "
        "the duplicates with conflicting labels.")] = False,
    include_test: Annotated[bool, typer.Option(
        "--include-test", help="Allow changes to the test split (never by default).")] = False,
    user: Annotated[str, typer.Option(
        help="Who made the decisions, for the run history [default: your login].")] = "",
    soften: Annotated[float | None, typer.Option(
        help="Soft labels for train/val: (1 - A) * label + A * out-of-fold probabilities "
        "(needs `curate clean --checks labels`); 0 removes them [default: the last apply's]",
        min=0.0, max=0.99)] = None,
) -> None:
    """Commit review tags (review:drop, review:keep, review:relabel:<class>) to the samples."""
    from curate.apply import ApplyConfig, apply_reviews

    st = state(ctx)
    with cli_errors(st.verbose):
        res = apply_reviews(ApplyConfig(st.dataset, auto, include_test, user, soften))
    if res.noop:
        console.print("apply: nothing to change (decisions already applied)")
    else:
        console.print("apply: " + ", ".join(f"{k} {v}" for k, v in res.changed.items()))
    if res.warning:
        console.print(f"  warning: {res.warning}")
    if res.skipped_test:
        console.print(f"  {res.skipped_test} review tags on the test split left alone "
                      "(pass --include-test to apply them)")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("clean")(clean_cmd)
    app.command("apply")(apply_cmd)
