"""`curate restore`: thin command over `curate.restore.restore`."""

from __future__ import annotations

import dataclasses
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from curate.core.clikit import Device, EngineName, pick_device, state
from curate.core.errors import cli_errors
from curate.restore.check import TAG as CHANGED_TAG
from curate.restore.stage import COLORS, METHODS, PRECISIONS, RestoreConfig, RestoreResult
from curate.restore.weights import DEFAULT_MODEL, REGISTRY

console = Console()

# The closed choices, generated from the stage's registries.
Method = Enum("Method", {m: m for m in METHODS}, type=str)  # type: ignore[misc]
Color = Enum("Color", {c: c for c in COLORS}, type=str)  # type: ignore[misc]
Precision = Enum("Precision", {p: p for p in PRECISIONS}, type=str)  # type: ignore[misc]
_DEFAULT = {f.name: f.default for f in dataclasses.fields(RestoreConfig)}  # one set of defaults
_METHOD, _COLOR = Method(_DEFAULT["method"]), Color(_DEFAULT["color"])
_PRECISION = Precision(_DEFAULT["precision"])
_ENGINE = EngineName(_DEFAULT["engine"])


def restore_cmd(
    ctx: typer.Context,
    method: Annotated[Method, typer.Option(help="gfpgan (needs weights) or a classical resize.")]
    = _METHOD,
    size: Annotated[int, typer.Option(help="Output side in pixels (48..512; GFPGAN works at "
                                           "512 and is resized to this).")] = 224,
    color: Annotated[Color, typer.Option(help="Output images in grayscale or RGB.")] = _COLOR,
    view: Annotated[str | None, typer.Option(
        help="A saved view or tag, e.g. issue:lowinfo (default: the whole dataset).")] = None,
    split: Annotated[str | None, typer.Option(help="Only this split (train/val/test).")] = None,
    label: Annotated[str | None, typer.Option(
        "--label", "--class", help="Only this ground-truth class.")]
    = None,
    weights: Annotated[Path | None, typer.Option(help="A local GFPGAN .pth file.")] = None,
    model: Annotated[str, typer.Option(
        help=f"Registry weights to use from the cache ({', '.join(REGISTRY)}).")] = DEFAULT_MODEL,
    cache_dir: Annotated[Path | None, typer.Option(
        help="Weights cache (default: $FER_CURATE_CACHE/weights or "
             "~/.cache/fer-curate/weights).")] = None,
    download: Annotated[bool, typer.Option(
        help="Fetch the official weights into the cache when missing.")] = False,
    unsharp: Annotated[bool, typer.Option(help="Unsharp mask after a classical resize.")] = False,
    batch_size: Annotated[int | None, typer.Option(
        help="Images per batch (default: 4 for gfpgan, 256 classical); halved on GPU OOM.")]
    = None,
    device: Device = "auto",
    precision: Annotated[Precision, typer.Option(
        help="auto: fp32 on CPU; fp16 on CUDA where safe for the model, else bf16.")]
    = _PRECISION,
    check: Annotated[bool, typer.Option(
        help="Compare the reference classifier's predictions on original vs restored images "
             "(--no-check skips it, recorded as skipped by request).")] = True,
    workers: Annotated[int, typer.Option(
        help="Threads for the classical path (local engine); actors with --engine ray.")] = 2,
    engine: Annotated[EngineName, typer.Option(
        help="local: this process; ray: Ray Data actor pools (a local cluster, or the one at "
             "RAY_ADDRESS; one GPU per actor on CUDA). Same outputs (docs/scale.md).")]
    = _ENGINE,
) -> None:
    """Restore and upsample faces (GFPGAN or classical); resumable; flags changed expressions."""
    from curate.restore import restore

    st = state(ctx)
    with cli_errors(st.verbose):
        cfg = RestoreConfig(
            dataset=st.dataset, workspace=st.workspace, method=method.value, size=size,
            color=color.value, unsharp=unsharp, weights=weights, model=model, cache_dir=cache_dir,
            download=download, view=view, split=split, label=label, batch_size=batch_size,
            device=pick_device(device), precision=precision.value, check=check,
            workers=workers, engine=engine.value, progress=st.progress)
        res = restore(cfg)
    _summary(cfg.tag, res)


def _summary(tag: str, res: RestoreResult) -> None:
    if res.unchanged:
        console.print(f"restore {tag}: unchanged since the last run ({res.selected} samples); "
                      "nothing to do")
    else:
        console.print(f"restore [bold]{tag}[/]: restored {res.restored}, already done "
                      f"{res.already_done}, skipped {len(res.skipped)} of {res.selected} "
                      f"in {res.seconds:.1f} s -> {res.out_dir}")
    if res.weights:
        w = res.weights
        state_ = f"verified {w.name}" if w.verified else "UNVERIFIED (not a known release)"
        console.print(f"weights: {w.path} sha256 {w.sha256} ({state_})")
    for s in res.skipped[:10]:
        console.print(f"  skipped {s.file}: {s.reason}")
    c = res.check
    if c.done:
        console.print(f"expression check: {c.changed} of {c.checked} predictions changed "
                      f"({c.rate:.1%}), tagged {c.tag or CHANGED_TAG}")
    elif c.status:
        console.print(f"expression check: {c.status}")
    if res.report:
        console.print(f"report: {res.report}")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the `curate` app."""
    app.command("restore")(restore_cmd)
