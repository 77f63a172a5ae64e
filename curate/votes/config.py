"""The `curate votes` commands' configs: frozen, self-validating, torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.core import store
from curate.core.errors import InputError
from curate.core.options import option


@dataclass(frozen=True, kw_only=True)
class VotesImportConfig:
    """`curate votes import`: one table of answers (or FER+'s file) into the store."""

    path: Path = option(argument=True, help="CSV of answers: a sample column (sample_id, "
                        "source_id or row), annotator, label, optional time and task; or FER+'s "
                        "fer2013new.csv.")
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    task: str = option("", help="Task of the answers whose table has no task column.")
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file (expected a CSV of answers)")


@dataclass(frozen=True, kw_only=True)
class VotesStatusConfig:
    """`curate votes status`: who answered what, and how well."""

    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
