"""`curate clean`: duplicates and leakage, image quality and non-faces, label issues.

Flags never delete: each check writes its measures and `issue:<kind>` tags on the samples;
`curate apply` turns review decisions into exclusions and corrected labels. Each check is
skipped when its last run had the same fingerprint (its settings + the ids, labels, exclusion
state and files of the samples it reads), so a re-run with the same settings is a no-op. The
labels it reads are `curate.core.views.audited_view`'s: where `apply`'s automatic policy
relabelled a sample, the source's label (that relabel is clean's own output), so a re-run after
`apply --auto` or `--labels crowd` is a no-op too.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.clean import duplicates, features, quality, signals
from curate.clean.config import DEFAULT_FILTER
from curate.core import engine, runs, schema, store, views
from curate.core.errors import InputError, StoreError
from curate.core.issues import Stat
from curate.core.taxonomy import SPLITS
from curate.core.workspace import Workspace

if TYPE_CHECKING:
    from curate.clean.checks import CheckResult

log = logging.getLogger(__name__)

_QUALITY = quality.QualityConfig()  # the defaults of the quality thresholds


def check_names() -> tuple[str, ...]:
    """The checks of the registry (`curate.clean.checks.CHECKS`), in run order."""
    from curate.clean.checks import CHECKS

    return tuple(CHECKS)


@dataclass(frozen=True, kw_only=True)
class CleanConfig:
    """The `curate clean` options. Thresholds: see curate.clean.quality and .features."""

    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    checks: tuple[str, ...] = field(default_factory=check_names)
    fast: bool = False
    radius: int = duplicates.DEFAULT_RADIUS
    splits: tuple[str, ...] = SPLITS
    device: str = "cpu"
    nproc: int = 1  # labels check: torchrun ranks of the out-of-fold training
    seed: int = 0
    workers: int = 2
    engine: str = engine.LOCAL  # where the images are read (same arrays either way)
    progress: bool = True
    folds: int | None = None  # labels check: None = the profile's (curate.clean.oof.PROFILES)
    epochs: int | None = None
    lowinfo_threshold: float = _QUALITY.lowinfo_threshold
    dark_threshold: float = _QUALITY.dark_threshold
    light_threshold: float = _QUALITY.light_threshold
    blurry_threshold: float = _QUALITY.blurry_threshold
    nonface_threshold: float = _QUALITY.nonface_threshold
    fast_face_entropy: float = quality.FAST_FACE_ENTROPY
    outlier_threshold: float = features.OUTLIER_THRESHOLD
    near_duplicate_threshold: float = features.NEAR_DUPLICATE_THRESHOLD
    filter_by: str = DEFAULT_FILTER  # one of curate.clean.labels.FILTERS
    target_precision: float = signals.TARGET_PRECISION
    crowd_calibration: bool = True
    crowd_holdout: float = 0.0  # labels check: share of the voted rows whose votes only judge
    knn: int = signals.K_LABEL

    def __post_init__(self) -> None:
        from curate.clean.checks import labels_config, quality_config

        known = check_names()
        unknown = [c for c in self.checks if c not in known]
        if unknown or not self.checks:
            raise InputError(f"unknown check {', '.join(map(repr, unknown)) or '(none given)'}; "
                             f"choose from {', '.join(known)} (comma-separated)")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise InputError(f"unknown split {', '.join(map(repr, bad)) or '(none given)'}; "
                             f"choose from {', '.join(SPLITS)}")
        if not 0 <= self.radius <= duplicates.MAX_RADIUS:
            raise InputError(f"--radius must be in 0..{duplicates.MAX_RADIUS} bits, "
                             f"got {self.radius}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        engine.check_engine(self.engine)
        quality_config(self)
        quality.QualityConfig(fast_face_entropy=self.fast_face_entropy)
        features.check_thresholds(self.outlier_threshold, self.near_duplicate_threshold)
        if "labels" in self.checks:
            labels_config(self)  # folds, epochs, filter_by


@dataclass
class CleanResult:
    dataset: str
    samples: int
    ran: dict[str, CheckResult] = field(default_factory=dict)
    settings: dict[str, dict[str, Stat]] = field(default_factory=dict)  # check -> settings
    skipped: list[str] = field(default_factory=list)  # checks already done (no-op)
    report: Path | None = None
    seconds: float = 0.0

    @property
    def noop(self) -> bool:
        return not self.ran


def open_view(cfg: CleanConfig) -> tuple[Any, Any]:
    """The dataset and the view of the selected splits; errors when either is empty."""
    ds = store.load_dataset(cfg.dataset)
    if len(ds) == 0:
        raise StoreError(f"dataset {cfg.dataset!r} is empty; run `curate ingest ...` first")
    # real samples only: augmented and synthetic ones derive from them (balance, synth) and
    # are checked at their own creation; including them would make clean depend on its output
    # the labels a policy of `curate apply` made are audited as the source gave them
    view = views.audited_view(ds.match(schema.real_in_splits(cfg.splits)))
    if len(view) == 0:
        raise InputError(f"dataset {cfg.dataset!r} has no samples in split(s) "
                         f"{', '.join(cfg.splits)}; present: "
                         f"{', '.join(ds.distinct(schema.SPLIT))}")
    return ds, view


def _jsonable(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(obj, default=str))


def clean(cfg: CleanConfig) -> CleanResult:
    """Run the selected checks (those not already done), then the report and saved views."""
    from curate.clean.checks import CHECKS, CheckContext, check_settings
    from curate.clean.report import write_report
    from curate.core.issues import ensure_saved_views

    t0 = time.perf_counter()
    ds, view = open_view(cfg)
    ws = Workspace.for_dataset(cfg.dataset, cfg.workspace)
    ctx = CheckContext(ds, view, cfg, ws)
    result = CleanResult(cfg.dataset, len(view))
    state = runs.sample_state(view, schema.FILEPATH)
    for name in cfg.checks:
        settings = check_settings(name, cfg)
        fp = runs.fingerprint({"check": name, "splits": sorted(cfg.splits), **settings}, state)
        stage = runs.check_stage(name)
        result.settings[name] = settings
        if runs.is_done(ds, stage, fp):
            log.info("%s: same settings and samples as its last run; nothing to do", name)
            result.skipped.append(name)
            continue
        t1 = time.perf_counter()
        res = CHECKS[name](ctx)
        runs.record(ds, stage, config=_jsonable({**asdict(cfg), **settings}), fp=fp,
                    counts=res.counts(), seconds=time.perf_counter() - t1)
        result.ran[name] = res
    if result.ran:
        ds.reload()
        ensure_saved_views(ds)
        result.report = write_report(ds, view, ws, result, ctx.missing)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result
