"""What the three CLIs (`curate`, `augment`, `train`) share: the global options."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from curate.core.engine import ENGINES, LOCAL
from curate.core.errors import InputError
from curate.core.store import DEFAULT_DATASET

DEVICE_HELP = "auto (CUDA when present), cpu, cuda, cuda:1 ..."
Device = Annotated[str, typer.Option(help=DEVICE_HELP)]
# --engine of the stages with per-image work on Ray (curate.core.engine)
EngineName = Enum("EngineName", {e: e for e in ENGINES}, type=str)  # type: ignore[misc]
LOCAL_ENGINE = EngineName(LOCAL)
# --nproc of the commands that train (train run / compare, clean's out-of-fold models)
NPROC_HELP = ("Processes to train on through torchrun (DDP: gloo on CPU, NCCL on CUDA, one GPU "
              "each); the same global batch and seed as one process.")
NProc = Annotated[int, typer.Option(help=NPROC_HELP)]


def pick_device(device: str) -> str:
    """`auto` -> cuda when present, else cpu; an explicit cuda without a GPU is an input error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available here (use auto or cpu)")
    if device != "cpu" and not device.startswith("cuda"):
        raise InputError(f"--device {device!r}: use auto, cpu, cuda or cuda:N")
    return device


@dataclass
class State:
    dataset: str = DEFAULT_DATASET
    workspace: Path | None = None
    verbose: bool = False
    progress: bool = True


def state(ctx: typer.Context) -> State:
    return ctx.find_root().obj or State()


def global_options(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option(help="FiftyOne dataset name.")] = DEFAULT_DATASET,
    workspace: Annotated[Path | None, typer.Option(
        help="Folder for media, runs, exports, reports (default: ./workspace/<dataset>).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs, tracebacks.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Global options, given before the command."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = State(dataset, workspace, verbose, progress)
