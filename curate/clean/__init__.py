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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.clean.config import ANSWER_FIELDS, CleanConfig, check_names
from curate.core import options, runs, schema, store, views
from curate.core.errors import InputError, StoreError
from curate.core.issues import Stat
from curate.core.workspace import Workspace

if TYPE_CHECKING:
    from curate.clean.checks import CheckResult

__all__ = ["CleanConfig", "CleanResult", "check_names", "clean", "open_view"]
log = logging.getLogger(__name__)


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


def _globals(cfg: CleanConfig) -> dict[str, Any]:
    return {"dataset": cfg.dataset, "workspace": cfg.workspace, "progress": cfg.progress}


def _jsonable(obj: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(obj, default=str))


def clean(cfg: CleanConfig) -> CleanResult:
    """Run the selected checks (those not already done), then the report and saved views."""
    from curate.clean.checks import CHECKS, CheckContext
    from curate.clean.report import write_report
    from curate.core.issues import ensure_saved_views

    t0 = time.perf_counter()
    ds, view = open_view(cfg)
    ws = Workspace.for_dataset(cfg.dataset, cfg.workspace)
    ctx = CheckContext(ds, view, cfg, ws)
    result = CleanResult(cfg.dataset, len(view))
    state = runs.sample_state(view, schema.FILEPATH)
    for name in cfg.checks:
        settings = cfg.check_settings(name)
        reads = runs.sample_state(view, schema.FILEPATH, *ANSWER_FIELDS) if name == "labels" \
            else state  # the label check also reads people's answers
        fp = runs.fingerprint({"check": name, "splits": sorted(cfg.splits), **settings}, reads)
        stage = runs.check_stage(name)
        result.settings[name] = settings
        if runs.is_done(ds, stage, fp):
            log.info("%s: same settings and samples as its last run; nothing to do", name)
            result.skipped.append(name)
            continue
        t1 = time.perf_counter()
        res = CHECKS[name](ctx)
        runs.record(ds, stage, config=_jsonable({**_globals(cfg), **options.settings(cfg), **settings}), fp=fp,
                    counts=res.counts(), seconds=time.perf_counter() - t1)
        result.ran[name] = res
    if result.ran:
        ds.reload()
        ensure_saved_views(ds)
        result.report = write_report(ds, view, ws, result, ctx.missing)
    result.seconds = round(time.perf_counter() - t0, 3)
    return result
