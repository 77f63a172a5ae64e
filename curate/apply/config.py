"""`curate apply`'s settings: one frozen config that validates itself (torch-free)."""

from __future__ import annotations

from dataclasses import dataclass

from curate.core import store
from curate.core.errors import InputError
from curate.core.options import option

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
    """The `curate apply` options (each declared once: curate.core.options). None: the last
    apply's value (else the first of the choices; --soften: 0)."""

    dataset: str = store.DEFAULT_DATASET
    auto: bool = option(False, flags=("--auto",), help="Also drop from train/val the exact "
                        "copies of test (val) images and the duplicates with conflicting "
                        "labels, and relabel a sample where the label check finds its suggested "
                        "class more probable than its label.")
    include_test: bool = option(False, flags=("--include-test",), help="Allow changes to the "
                                "test split (never by default).")
    user: str = option("", help="Who made the decisions, for the run history (default: your "
                       "login).")
    soften: float | None = option(
        None, min=0.0, max=0.99,
        help="Soft labels for train/val: (1 - A) * label + A * --soft-from's distribution "
             "(needs `curate clean --checks labels`); 0 removes them (default: the last "
             "apply's)")
    labels: str | None = option(
        None, choices=LABEL_POLICIES,
        help="'crowd': take the crowd's consensus label where FER+ votes exist (`crowd_label`); "
             "'given': keep the labels (default: the last apply's, else given)")
    soft_from: str | None = option(
        None, choices=SOFT_SOURCES,
        help="What --soften mixes in: 'model' (the label check's P(true class | image, label)) "
             "or 'votes' (the FER+ vote shares where votes exist, the model elsewhere) "
             "(default: the last apply's, else model)")

    def __post_init__(self) -> None:
        if self.soften is not None and not 0.0 <= self.soften < 1.0:
            raise InputError(f"--soften {self.soften}: use a weight in [0, 1), e.g. 0.3")
        if self.labels is not None and self.labels not in LABEL_POLICIES:
            raise InputError(f"--labels {self.labels!r}: use one of {', '.join(LABEL_POLICIES)}")
        if self.soft_from is not None and self.soft_from not in SOFT_SOURCES:
            raise InputError(f"--soft-from {self.soft_from!r}: use one of "
                             f"{', '.join(SOFT_SOURCES)}")
