"""The label check's settings: `LabelsConfig`, the K-fold profiles and the flag rules.

Torch-free: building (validating) a config imports no torch and no timm. The backbone name is
checked when the out-of-fold training is set up (`LabelsConfig.oof_config`, `curate.clean.oof`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from curate.clean import features, signals
from curate.core.errors import InputError
from curate.core.issues import Stat

if TYPE_CHECKING:
    from curate.clean.oof import OofConfig

# What the default and `--fast` (the CPU budget) mean for the K-fold training. resnet10t: the
# small backbone that learns best for its cost at this size and budget (docs/results.md).
PROFILES: dict[str, dict[str, Any]] = {
    "default": {"folds": 5, "epochs": 6, "backbone": "resnet10t", "img_size": 48,
                "batch_size": 128, "shift": 3},
    "fast": {"folds": 3, "epochs": 2, "backbone": "resnet10t", "img_size": 48,
             "batch_size": 128, "shift": 3},
}
PROFILED = ("folds", "epochs", "backbone", "img_size", "batch_size", "shift")
# The flag rule: "precision" (per class, the most suspect labels up to a target estimated
# precision: `signals.flag_to_precision`) or one of cleanlab.filter.find_label_issues's filter_by
# methods on the combined probabilities (one global rule, as a notebook would wire it).
CLEANLAB_FILTERS = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning",
                    "predicted_neq_given")
FILTERS = ("precision", *CLEANLAB_FILTERS)
DEFAULT_FILTER = "precision"
# Below this out-of-fold accuracy the label flags are mostly the model's errors (FER-2013: human
# agreement ~65%, published single networks ~70%): no `issue:label` is tagged (the scores are
# still written, to sort by) and the report says why.
WEAK_MODEL_ACCURACY = 0.45


@dataclass(frozen=True, kw_only=True)
class LabelsConfig:
    """Settings of the label check; None = the profile's value (`PROFILES`; `fast` picks
    the CPU budget)."""

    folds: int | None = None
    epochs: int | None = None
    backbone: str | None = None
    img_size: int | None = None
    batch_size: int | None = None
    shift: int | None = None
    seed: int = 0
    device: str = "cpu"
    nproc: int = 1  # torchrun ranks of each fold's training (curate.clean.oof)
    fast: bool = False
    filter_by: str = DEFAULT_FILTER
    target_precision: float = signals.TARGET_PRECISION
    knn: int = signals.K_LABEL
    crowd_calibration: bool = True
    crowd_holdout: float = 0.0  # share of the voted rows whose votes only judge (`judges`)
    outlier_threshold: float = features.OUTLIER_THRESHOLD
    near_duplicate_threshold: float = features.NEAR_DUPLICATE_THRESHOLD

    def __post_init__(self) -> None:
        if self.filter_by not in FILTERS:
            raise InputError(f"--filter-by {self.filter_by!r}: use one of {', '.join(FILTERS)}")
        if not 0.0 < self.target_precision <= 1.0:
            raise InputError(f"--target-precision {self.target_precision}: use a value in (0, 1]")
        if self.knn < 0:
            raise InputError(f"--knn {self.knn}: use 0 (no neighbour signal) or more neighbours")
        if not 0.0 <= self.crowd_holdout < 1.0:
            raise InputError(f"--crowd-holdout {self.crowd_holdout}: use a share in [0, 1)")
        features.check_thresholds(self.outlier_threshold, self.near_duplicate_threshold)
        self._check_training()

    def _check_training(self) -> None:
        """The K-fold sizes (the backbone name is checked by `oof_config`, which imports
        timm)."""
        from train import distributed  # torch-free: the torchrun launcher's checks

        folds = self.resolved("folds")
        if folds < 2:
            raise InputError(f"folds={folds}: K-fold needs at least 2 folds")
        for name in ("epochs", "img_size", "batch_size"):
            if self.resolved(name) < 1:
                raise InputError(f"{name}={self.resolved(name)}: must be at least 1")
        if self.resolved("shift") < 0:
            raise InputError(f"shift={self.resolved('shift')}: must be 0 or more")
        distributed.check_share(self.nproc, self.resolved("batch_size"))

    def resolved(self, key: str) -> Any:
        value = getattr(self, key)
        return PROFILES["fast" if self.fast else "default"][key] if value is None else value

    def oof_config(self) -> OofConfig:
        """The resolved K-fold settings (validates the backbone name: imports timm)."""
        from curate.clean.oof import OofConfig

        return OofConfig(**{k: self.resolved(k) for k in PROFILED}, seed=self.seed,
                         device=self.device, nproc=self.nproc)

    def settings(self) -> dict[str, Stat]:
        """The resolved settings (where they run is not part of them: device, nproc)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("device", "nproc")}
        return {**out, **{k: self.resolved(k) for k in PROFILED}}
