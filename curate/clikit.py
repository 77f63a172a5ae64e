"""What the three CLIs (`curate`, `augment`, `train`) share: the global options."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from curate.store import DEFAULT_DATASET


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
