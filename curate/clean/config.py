"""The `curate clean` options: `CleanConfig`, composed of each check's config (`DuplicatesConfig`,
`quality.QualityConfig`, `LabelsConfig`), the K-fold profiles and the flag rules.

Torch-free: building (validating) a config imports no torch and no timm. The backbone name is
checked when the out-of-fold training is set up (`LabelsConfig.oof_config`, `curate.clean.oof`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.clean import duplicates, features, signals
from curate.clean.quality import QualityConfig
from curate.core import engine, schema, store
from curate.core.clikit import NPROC_HELP, pick_device
from curate.core.errors import InputError
from curate.core.issues import Stat
from curate.core.options import inherit, option, pass_down, sub
from curate.core.taxonomy import SPLITS

if TYPE_CHECKING:
    from curate.clean.oof import OofConfig

# What the default and `--fast` (the CPU budget) mean for the K-fold training. resnet10t: the
# small backbone that learns best for its cost at this size and budget
# (docs/results.md#code-defaults).
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
# The label scoring's version: bumped when a change of the scoring changes what it writes, so
# that a re-run scores again (the fold models, keyed on their own settings, are reused).
# 2: the calibration on people's answers (curate.clean.calibration).
SCORING_VERSION = 2
# What the label check reads of people's answers (their per-sample counts, and which faces
# `curate annotate` drew to judge): part of its fingerprint, so new answers re-run it.
ANSWER_FIELDS = (schema.FERPLUS_VOTES, schema.ASK_ROLE)


def _profile_help(what: str, key: str) -> str:
    return (f"Labels check: {what} (default {PROFILES['default'][key]}; "
            f"{PROFILES['fast'][key]} with --fast).")


@dataclass(frozen=True, kw_only=True)
class LabelsConfig:
    """Settings of the label check; None = the profile's value (`PROFILES`; `fast` picks
    the CPU budget)."""

    folds: int | None = option(None, help=_profile_help("K of the K-fold training", "folds"))
    epochs: int | None = option(None, help=_profile_help("epochs per fold", "epochs"))
    backbone: str | None = None
    img_size: int | None = None
    batch_size: int | None = None
    shift: int | None = None
    seed: int = option(0, help="Seed for every RNG of the labels check.")
    device: str = option("cpu", help="auto, cpu or cuda (labels check).", cli_default="auto",
                         convert=pick_device)
    nproc: int = option(1, help=NPROC_HELP)
    fast: bool = inherit(False)
    filter_by: str = option(DEFAULT_FILTER, choices=FILTERS, help="Labels check: the flag rule: "
                            "'precision' (per class, up to --target-precision) or one of "
                            "cleanlab's find_label_issues filter_by methods (one global rule).")
    target_precision: float = option(
        signals.TARGET_PRECISION, min=0.01, max=1.0,
        help="Labels check: flag, per class, the most suspect labels while their estimated "
             "precision (mean probability that the label is wrong) stays at least this.")
    knn: int = option(signals.K_LABEL, min=0, help="Labels check: neighbours of the kNN label "
                      "signal on held-out embeddings (0: the model alone).")
    crowd_calibration: bool = option(
        True, help="Labels check: where FER+ votes exist for enough rows, learn from them how "
        "the labels relate to the crowd and score every other row that way (each voted row by "
        "the other voted rows only); --no-crowd-calibration: the crowd-free estimate.")
    crowd_holdout: float = option(
        0.0, min=0.0, max=0.99,
        help="Labels check: this share of the voted rows (a stable seeded draw) never "
             "calibrates the audit: their votes only judge it (crowd_role = judge), and `train "
             "compare` scores the crowd on them alone, as rows whose votes calibrated the "
             "curation cannot judge it.")
    outlier_threshold: float = option(
        features.OUTLIER_THRESHOLD, min=0.0, max=1.0,
        help="Labels check: Datalab's outlier threshold (flag above Q3 + (1/t - 1) IQR of the "
             "mean kNN distance; 0 flags none).")
    near_duplicate_threshold: float = option(
        features.NEAR_DUPLICATE_THRESHOLD, min=0.0,
        help="Labels check: flag issue:near_duplicate when a neighbour is closer than this x "
             "the median nearest-neighbour distance (0 flags none).")

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
        """The resolved settings (where they run is not part of them: device, nproc) and the
        scoring's version: a dataset scored by an older label audit is scored again."""
        out = {k: v for k, v in asdict(self).items() if k not in ("device", "nproc")}
        return {**out, **{k: self.resolved(k) for k in PROFILED}, "scoring": SCORING_VERSION}


@dataclass(frozen=True, kw_only=True)
class DuplicatesConfig:
    """Settings of the duplicates check."""

    radius: int = option(duplicates.DEFAULT_RADIUS, min=0, max=duplicates.MAX_RADIUS,
                         help="Hamming radius (bits of 64) for near-duplicate pHashes.")

    def settings(self) -> dict[str, Stat]:
        return {"radius": self.radius, "hash": duplicates.HASH}


def check_names() -> tuple[str, ...]:
    """The checks of the registry (`curate.clean.checks.CHECKS`), in run order."""
    from curate.clean.checks import CHECKS

    return tuple(CHECKS)


@dataclass(frozen=True, kw_only=True)
class CleanConfig:
    """The `curate clean` options: its own and, composed, each check's (`duplicates`,
    `quality`, `labels`), all declared once (curate.core.options)."""

    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    progress: bool = True
    checks: tuple[str, ...] = option(factory=check_names, choices=check_names,
                                     help="Checks to run.")
    fast: bool = option(False, flags=("--fast",), help="The CPU-budget profile.")
    splits: tuple[str, ...] = option(SPLITS, flags=("--split", "--splits"),
                                     help="Split(s) to check.")
    workers: int = option(2, help="Threads reading and hashing images (local engine); actors "
                          "with --engine ray.")
    engine: str = option(engine.LOCAL, choices=engine.ENGINES, help="Where the images are read "
                         "and hashed. local: this process; ray: Ray Data actor pools (a local "
                         "cluster, or the one at RAY_ADDRESS). Same arrays either way "
                         "(docs/scale.md).")
    duplicates: DuplicatesConfig = sub(DuplicatesConfig)
    quality: QualityConfig = sub(QualityConfig)
    labels: LabelsConfig = sub(LabelsConfig)

    def __post_init__(self) -> None:
        pass_down(self)  # --fast reaches the quality and labels checks
        known = check_names()
        unknown = [c for c in self.checks if c not in known]
        if unknown or not self.checks:
            raise InputError(f"unknown check {', '.join(map(repr, unknown)) or '(none given)'}; "
                             f"choose from {', '.join(known)} (comma-separated)")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise InputError(f"unknown split {', '.join(map(repr, bad)) or '(none given)'}; "
                             f"choose from {', '.join(SPLITS)}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        engine.check_engine(self.engine)

    def check_settings(self, name: str) -> dict[str, Stat]:
        """What a check's fingerprint includes besides the samples (its resolved settings)."""
        if name == "duplicates":
            return self.duplicates.settings()
        if name == "quality":
            return {"fast": self.fast, **self.quality.settings()}
        if name == "labels":
            return self.labels.settings()
        return {}
