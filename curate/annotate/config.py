"""`curate annotate`'s config: frozen, self-validating, torch-free."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.annotate.strategies import DEFAULT_STRATEGY, STRATEGIES
from curate.core import store
from curate.core.errors import InputError
from curate.core.taxonomy import EDITABLE_SPLITS, SPLITS

ANNOTATE_STAGE = "annotate"  # the run-history stage: one record per task written
DEFAULT_HOLDOUT = 0.2


@dataclass(frozen=True, kw_only=True)
class AnnotateConfig:
    """Choose `budget` faces to ask about (a `holdout` share at random, judges only; the rest
    by `strategy`) among the real samples of `splits` that have no answer yet."""

    budget: int
    strategy: str = DEFAULT_STRATEGY
    holdout: float = DEFAULT_HOLDOUT
    seed: int = 0
    splits: tuple[str, ...] = EDITABLE_SPLITS
    task: str = ""  # default: annotate-<budget>-<strategy>-s<seed>
    export: Path | None = None
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise InputError(f"--budget must be >= 1, got {self.budget}")
        if self.strategy not in STRATEGIES:
            raise InputError(f"--strategy {self.strategy!r}: choose one of "
                             f"{', '.join(STRATEGIES)}")
        if not 0.0 <= self.holdout < 1.0:
            raise InputError(f"--holdout must be in [0, 1), got {self.holdout}")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise InputError(f"--split {','.join(self.splits)!r}: splits are "
                             f"{', '.join(SPLITS)} (comma-separated)")
        if any(c in self.task for c in " ,/"):
            raise InputError(f"--task {self.task!r}: no spaces, commas or slashes")

    @property
    def task_name(self) -> str:
        return self.task or f"annotate-{self.budget}-{self.strategy}-s{self.seed}"

    def settings(self) -> dict[str, object]:
        """What defines the task's choice (a re-run with other settings is refused)."""
        return {"budget": self.budget, "strategy": self.strategy, "holdout": self.holdout,
                "seed": self.seed, "splits": list(self.splits)}
