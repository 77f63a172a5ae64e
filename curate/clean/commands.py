"""`curate clean`: a thin command over curate.clean."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from curate.clean import CleanConfig, CleanResult, check_names, duplicates, features, quality, signals
from curate.clean.config import DEFAULT_FILTER, FILTERS, PROFILES
from curate.core.clikit import LOCAL_ENGINE, EngineName, NProc, pick_device, state
from curate.core.errors import cli_errors

console = Console()
# The closed choices, generated from the library's registries.
FilterBy = Enum("FilterBy", {f: f for f in FILTERS}, type=str)  # type: ignore[misc]
_Q = quality.QualityConfig()
_DEF, _FAST = PROFILES["default"], PROFILES["fast"]
_ALL_CHECKS = ",".join(check_names())
_DEFAULT_FILTER = FilterBy(DEFAULT_FILTER)


def _threshold(what: str) -> typer.models.OptionInfo:
    return typer.Option(help=f"Quality check: {what}.", min=0.0, max=1.0)


Checks = Annotated[str, typer.Option(
    help=f"Comma-separated checks, from: {', '.join(check_names())}.")]
Fast = Annotated[bool, typer.Option("--fast", help="The CPU-budget profile.")]
Radius = Annotated[int, typer.Option(
    help="Hamming radius (bits of 64) for near-duplicate pHashes.", min=0,
    max=duplicates.MAX_RADIUS)]
Splits = Annotated[list[str] | None, typer.Option(
    "--split", "--splits", help="Split(s) to check (repeat or comma-separate; default: all).")]
Device = Annotated[str, typer.Option(help="auto, cpu or cuda (labels check).")]
Seed = Annotated[int, typer.Option(help="Seed for every RNG of the labels check.")]
Workers = Annotated[int, typer.Option(
    help="Threads reading and hashing images (local engine); actors with --engine ray.")]
Engine = Annotated[EngineName, typer.Option(
    help="Where the images are read and hashed. local: this process; ray: Ray Data actor pools "
         "(a local cluster, or the one at RAY_ADDRESS). Same arrays either way (docs/scale.md).")]
Folds = Annotated[int | None, typer.Option(
    help=f"Labels check: K of the K-fold training (default {_DEF['folds']}; "
         f"{_FAST['folds']} with --fast).")]
Epochs = Annotated[int | None, typer.Option(
    help=f"Labels check: epochs per fold (default {_DEF['epochs']}; {_FAST['epochs']} with "
         "--fast).")]
Lowinfo = Annotated[float, _threshold("flag issue:lowinfo at lowinfo_score >= this")]
Dark = Annotated[float, _threshold("flag issue:dark at dark_score >= this")]
Light = Annotated[float, _threshold("flag issue:light at light_score >= this")]
Blurry = Annotated[float, _threshold("flag issue:blurry at blurry_score >= this")]
Nonface = Annotated[float, _threshold("flag issue:nonface at face_score < this")]
FastFaceEntropy = Annotated[float, typer.Option(
    help="With --fast: run the face detector only on crops below this entropy (bits); the "
         "others get no face_score and no issue:nonface.", min=0.0, max=8.0)]
Outlier = Annotated[float, typer.Option(
    help="Labels check: Datalab's outlier threshold (flag above Q3 + (1/t - 1) IQR of the mean "
         "kNN distance; 0 flags none).", min=0.0, max=1.0)]
NearDuplicate = Annotated[float, typer.Option(
    help="Labels check: flag issue:near_duplicate when a neighbour is closer than this x the "
         "median nearest-neighbour distance (0 flags none).", min=0.0)]
Filter = Annotated[FilterBy, typer.Option(
    help="Labels check: the flag rule: 'precision' (per class, up to --target-precision) or "
         "one of cleanlab's find_label_issues filter_by methods (one global rule).")]
TargetPrecision = Annotated[float, typer.Option(
    help="Labels check: flag, per class, the most suspect labels while their estimated "
         "precision (mean probability that the label is wrong) stays at least this.",
    min=0.01, max=1.0)]
CrowdCalibration = Annotated[bool, typer.Option(
    help="Labels check: where FER+ votes exist for enough rows, learn from them how the labels "
         "relate to the crowd and score every other row that way (each voted row by the "
         "other voted rows only); --no-crowd-calibration: the crowd-free estimate.")]
CrowdHoldout = Annotated[float, typer.Option(
    help="Labels check: this share of the voted rows (a stable seeded draw) never calibrates "
         "the audit: their votes only judge it (crowd_role = judge), and `train compare` "
         "scores the crowd on them alone, as rows whose votes calibrated the curation cannot "
         "judge it.", min=0.0, max=0.99)]
Knn = Annotated[int, typer.Option(
    help="Labels check: neighbours of the kNN label signal on held-out embeddings (0: the "
         "model alone).", min=0)]


def _split_list(values: list[str] | None) -> tuple[str, ...]:
    from curate.core.taxonomy import SPLITS

    if not values:
        return SPLITS
    return tuple(s.strip() for v in values for s in v.split(",") if s.strip())


def clean_cmd(
    ctx: typer.Context,
    checks: Checks = _ALL_CHECKS,
    fast: Fast = False,
    radius: Radius = duplicates.DEFAULT_RADIUS,
    split: Splits = None,
    device: Device = "auto",
    nproc: NProc = 1,
    seed: Seed = 0,
    workers: Workers = 2,
    engine: Engine = LOCAL_ENGINE,
    folds: Folds = None,
    epochs: Epochs = None,
    lowinfo_threshold: Lowinfo = _Q.lowinfo_threshold,
    dark_threshold: Dark = _Q.dark_threshold,
    light_threshold: Light = _Q.light_threshold,
    blurry_threshold: Blurry = _Q.blurry_threshold,
    nonface_threshold: Nonface = _Q.nonface_threshold,
    fast_face_entropy: FastFaceEntropy = quality.FAST_FACE_ENTROPY,
    outlier_threshold: Outlier = features.OUTLIER_THRESHOLD,
    near_duplicate_threshold: NearDuplicate = features.NEAR_DUPLICATE_THRESHOLD,
    filter_by: Filter = _DEFAULT_FILTER,
    target_precision: TargetPrecision = signals.TARGET_PRECISION,
    knn: Knn = signals.K_LABEL,
    crowd_calibration: CrowdCalibration = True,
    crowd_holdout: CrowdHoldout = 0.0,
) -> None:
    """Find duplicates and leakage, low-quality and non-face images, and label issues."""
    from curate.clean import clean

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = CleanConfig(
            dataset=st.dataset, workspace=st.workspace,
            checks=tuple(c.strip() for c in checks.split(",") if c.strip()), fast=fast,
            radius=radius, splits=_split_list(split), device=pick_device(device), nproc=nproc,
            seed=seed,
            workers=workers, engine=engine.value, progress=st.progress, folds=folds, epochs=epochs,
            lowinfo_threshold=lowinfo_threshold, dark_threshold=dark_threshold,
            light_threshold=light_threshold, blurry_threshold=blurry_threshold,
            nonface_threshold=nonface_threshold, fast_face_entropy=fast_face_entropy,
            outlier_threshold=outlier_threshold,
            near_duplicate_threshold=near_duplicate_threshold, filter_by=filter_by.value,
            target_precision=target_precision, knn=knn, crowd_calibration=crowd_calibration,
            crowd_holdout=crowd_holdout)
        res = clean(cfg)
    _print_result(res, st.dataset)


def _print_result(res: CleanResult, dataset: str) -> None:
    from curate.clean.report import fmt

    if res.noop:
        console.print(f"clean: nothing to do: {', '.join(res.skipped)} already ran with the "
                      f"same settings and samples ({res.samples} samples, dataset {dataset!r})")
        return
    console.print(f"[bold]clean[/] on {res.samples} samples of {dataset!r} "
                  f"in {res.seconds:.1f} s")
    for name, done in res.ran.items():
        shown = {k: v for k, v in done.stats.items() if not isinstance(v, dict)}
        console.print(f"  {name}: " + ", ".join(f"{k} {fmt(k, v)}" for k, v in shown.items()))
        if done.tagged:
            console.print("    tagged: " + ", ".join(f"{k} {v}" for k, v in done.tagged.items()))
    for name in res.skipped:
        console.print(f"  {name}: unchanged since its last run (skipped)")
    console.print(f"report: {res.report}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("clean")(clean_cmd)
