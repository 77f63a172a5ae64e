"""`curate apply`'s settings: one frozen config that validates itself (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass

from curate.core import store
from curate.core.errors import InputError

# --labels: "given" keeps the labels (review relabels and --auto aside); "crowd" takes the
# crowd's consensus (`crowd_label`, written by `curate clean` where FER+ votes exist)
LABEL_POLICIES = ("given", "crowd")
# --soft-from: what --soften mixes into the label: "model" = the label check's posterior
# P(true class | image, label) (`label_posterior`; the out-of-fold probabilities where clean
# predates it); "votes" = the share of each class in the sample's FER+ votes where it has
# votes, the model's elsewhere
SOFT_SOURCES = ("model", "votes")


@dataclass(frozen=True, kw_only=True)
class ApplyConfig:
    dataset: str = store.DEFAULT_DATASET
    auto: bool = False
    include_test: bool = False
    user: str = ""
    soften: float | None = None  # None: the last apply's value (0 when there was none)
    labels: str | None = None  # LABEL_POLICIES; None: the last apply's (given when none)
    soft_from: str | None = None  # SOFT_SOURCES; None: the last apply's (model when none)

    def __post_init__(self) -> None:
        if self.soften is not None and not 0.0 <= self.soften < 1.0:
            raise InputError(f"--soften {self.soften}: use a weight in [0, 1), e.g. 0.3")
        if self.labels is not None and self.labels not in LABEL_POLICIES:
            raise InputError(f"--labels {self.labels!r}: use one of {', '.join(LABEL_POLICIES)}")
        if self.soft_from is not None and self.soft_from not in SOFT_SOURCES:
            raise InputError(f"--soft-from {self.soft_from!r}: use one of "
                             f"{', '.join(SOFT_SOURCES)}")
