"""`curate annotate`'s config: frozen, self-validating, torch-free; each option declared once
(curate.core.options derives the command from it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curate.annotate.strategies import DEFAULT_STRATEGY, STRATEGIES
from curate.core import store
from curate.core.errors import InputError
from curate.core.options import option
from curate.core.taxonomy import EDITABLE_SPLITS, SPLITS

DEFAULT_HOLDOUT = 0.2
LOCAL, LABELSTUDIO = "local", "labelstudio"
BACKENDS = (LOCAL, LABELSTUDIO)


@dataclass(frozen=True, kw_only=True)
class AnnotateConfig:
    """Choose `budget` faces to ask about (a `holdout` share at random, judges only; the rest
    by `strategy`) among the real samples of `splits` that have no answer yet; with the
    labelstudio backend, send them to a Label Studio project; with `load`, bring its answers
    back instead."""

    budget: int | None = option(None, min=1, help="How many faces to ask about (not with "
                                "--load).")
    strategy: str = option(DEFAULT_STRATEGY, choices=STRATEGIES, help=(
        "How the faces that calibrate are chosen: random (the unbiased baseline), activelab "
        "(cleanlab's ActiveLab scores, lowest first), stratified (over the label check's given "
        "x suggested cells, more where they disagree)."))
    holdout: float = option(DEFAULT_HOLDOUT, help="Share of the budget drawn at random that "
                            "only judges (never calibrates).")
    seed: int = option(0, help="Seed of every random choice.")
    splits: tuple[str, ...] = option(EDITABLE_SPLITS, flags=("--split",), choices=SPLITS,
                                     help="Splits to choose from.")
    task: str = option("", help="The task's name (default annotate-<budget>-<strategy>-s<seed>; "
                       "with --load: default every task sent to Label Studio).")
    export: Path | None = option(None, help=(
        "Also write the task as a CSV (sample_id, source_id, filepath, task, role) for an "
        "outside tool; its answers come back with `curate votes import`."))
    backend: str = option(LOCAL, choices=BACKENDS, help=(
        "Where people answer. local: the task waits in the App (tag ask:<task>); labelstudio: "
        "also a project on a Label Studio server (scripts/label-studio.sh start, or "
        "LABEL_STUDIO_URL + LABEL_STUDIO_API_KEY), one task per face."))
    annotators: int = option(1, min=1, help="Answers wanted per face (--backend labelstudio: "
                             "the project's maximum annotations per task).")
    prefill: bool = option(False, flags=("--prefill",), help=(
        "Show the model's suggestion as a pre-annotation (--backend labelstudio; off by "
        "default: it anchors people)."))
    load: bool = option(False, flags=("--load",), help=(
        "Bring the finished answers of the task(s) back from Label Studio into the answers "
        "store (a re-load adds nothing)."))
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None

    def __post_init__(self) -> None:
        if self.load:
            if self.budget is not None or self.export is not None:
                raise InputError("--load brings answers back: it takes no --budget or "
                                 "--export (only --task)")
        elif self.budget is None or self.budget < 1:
            raise InputError(f"--budget must be >= 1, got {self.budget} (or --load to bring "
                             "answers back)")
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
        if self.backend not in BACKENDS:
            raise InputError(f"--backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if self.annotators < 1:
            raise InputError(f"--annotators must be >= 1, got {self.annotators}")
        if self.backend == LOCAL and not self.load and (self.annotators > 1 or self.prefill):
            raise InputError("--annotators and --prefill set a Label Studio project: add "
                             "--backend labelstudio")

    @property
    def task_name(self) -> str:
        return self.task or f"annotate-{self.budget}-{self.strategy}-s{self.seed}"

    def settings(self) -> dict[str, object]:
        """What defines the task's choice (a re-run with other settings is refused)."""
        return {"budget": self.budget, "strategy": self.strategy, "holdout": self.holdout,
                "seed": self.seed, "splits": list(self.splits)}
