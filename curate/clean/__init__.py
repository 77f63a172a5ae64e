"""`curate clean`: duplicates and leakage, image quality and non-faces, label issues.

Flags never delete: each check writes its measures and `issue:<kind>` tags on the samples;
`curate apply` turns review decisions into exclusions and corrected labels. Each check is
skipped when its last run had the same fingerprint (its settings + the ids, labels, exclusion
state and files of the samples it reads), so a re-run with the same settings is a no-op.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.core import runs, store
from curate.core.errors import InputError, StoreError
from curate.core.taxonomy import SPLITS
from curate.core.workspace import Workspace

log = logging.getLogger(__name__)

ALL_CHECKS = ("duplicates", "quality", "labels")
DEFAULT_RADIUS = 4


@dataclass(frozen=True)
class CleanConfig:
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    checks: tuple[str, ...] = ALL_CHECKS
    fast: bool = False
    radius: int = DEFAULT_RADIUS
    splits: tuple[str, ...] = SPLITS
    device: str = "cpu"
    seed: int = 0
    workers: int = 2
    progress: bool = True
    folds: int | None = None  # labels check: None = the profile's (5, or 3 with --fast)
    epochs: int | None = None  # labels check: None = the profile's (6, or 2 with --fast)

    def __post_init__(self) -> None:
        from curate.clean.duplicates import MAX_RADIUS

        unknown = [c for c in self.checks if c not in ALL_CHECKS]
        if unknown or not self.checks:
            raise InputError(f"unknown check {', '.join(map(repr, unknown)) or '(none given)'}; "
                             f"choose from {', '.join(ALL_CHECKS)} (comma-separated)")
        bad = [s for s in self.splits if s not in SPLITS]
        if bad or not self.splits:
            raise InputError(f"unknown split {', '.join(map(repr, bad)) or '(none given)'}; "
                             f"choose from {', '.join(SPLITS)}")
        if not 0 <= self.radius <= MAX_RADIUS:
            raise InputError(f"--radius must be in 0..{MAX_RADIUS} bits, got {self.radius}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")


@dataclass
class CleanResult:
    dataset: str
    samples: int
    ran: dict[str, dict[str, Any]] = field(default_factory=dict)  # check -> counts
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
    view = ds.match({"split": {"$in": list(cfg.splits)},
                     "source": {"$nin": ["augmented", "synthetic"]}})
    if len(view) == 0:
        raise InputError(f"dataset {cfg.dataset!r} has no samples in split(s) "
                         f"{', '.join(cfg.splits)}; present: {', '.join(ds.distinct('split'))}")
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
    state = runs.sample_state(view, "filepath")
    for name in cfg.checks:
        settings = {"check": name, "splits": sorted(cfg.splits), **check_settings(name, cfg)}
        fp = runs.fingerprint(settings, state)
        stage = f"clean:{name}"
        if runs.is_done(ds, stage, fp):
            log.info("%s: same settings and samples as its last run; nothing to do", name)
            result.skipped.append(name)
            continue
        t1 = time.perf_counter()
        counts = CHECKS[name](ctx)
        runs.record(ds, stage, config=_jsonable({**asdict(cfg), **settings}), fp=fp, counts=counts,
                    seconds=time.perf_counter() - t1)
        result.ran[name] = counts
    if result.ran:
        ds.reload()
        ensure_saved_views(ds)
        result.report = write_report(ds, view, ws, result, ctx.missing)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result
