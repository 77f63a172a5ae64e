"""The `curate votes` commands' configs: frozen, self-validating, torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.core import store
from curate.core.errors import InputError

VOTES_STAGE = "votes"  # the run-history stage of `curate votes import`


@dataclass(frozen=True, kw_only=True)
class VotesImportConfig:
    """`curate votes import`: one table of answers (or FER+'s file) into the store."""

    path: Path
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    task: str = ""  # the task of answers whose table has no `task` column
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file (expected a CSV of answers)")


@dataclass(frozen=True, kw_only=True)
class VotesStatusConfig:
    """`curate votes status`: who answered what, and how well."""

    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
