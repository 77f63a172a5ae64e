"""The DB side of `curate clean`: one function per check, in an explicit registry.

Each check reads what it needs from the view in bulk, calls its pure `score` (an `IssueTable`,
`curate.core.issues`) and stores the table with `write_issues`. Images are decoded once per run
and shared by the checks that need pixels.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

from curate.clean import duplicates, quality
from curate.clean.pixels import Pixels, load_pixels
from curate.core import schema
from curate.core.errors import CurateError
from curate.core.issues import IssueTable, Stat, write_issues
from curate.core.progress import task
from curate.core.workspace import Workspace

if TYPE_CHECKING:
    from curate.clean.config import CleanConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """One check's run: its summary (the table's stats) and the samples tagged per issue tag."""

    stats: dict[str, Stat]
    tagged: dict[str, int]

    def counts(self) -> dict[str, Stat]:
        """The summary as the run history and clean.json keep it."""
        return {**self.stats, "tagged": dict(self.tagged)}


@dataclass
class CheckContext:
    ds: Any
    view: Any
    cfg: CleanConfig
    ws: Workspace
    _pixels: Pixels | None = None
    missing: dict[str, str] = field(default_factory=dict)  # filepath -> reason

    def pixels(self) -> Pixels:
        """Decode the view's images once (missing/unreadable files counted, not fatal)."""
        if self._pixels is None:
            ids, paths = self.view.values(["id", schema.FILEPATH])
            with task("clean: read images", len(ids), self.cfg.progress) as tick:
                self._pixels = load_pixels(ids, paths, workers=self.cfg.workers, tick=tick,
                                           phash="duplicates" in self.cfg.checks,
                                           engine_name=self.cfg.engine)
            self.missing = {paths[i]: why for i, why in self._pixels.errors.items()}
        return self._pixels


def _store(ctx: CheckContext, table: IssueTable) -> CheckResult:
    return CheckResult(dict(table.stats), write_issues(ctx.ds, table))


def run_duplicates(ctx: CheckContext) -> CheckResult:
    """Exact (pixel) and near (pHash) duplicate groups, leakage and label conflicts."""
    px = ctx.pixels()  # read with digests and pHashes: this check is among cfg.checks
    if px.phashes is None:
        raise RuntimeError("the images were read without pHashes")
    splits, labels, sources = ctx.view.values([schema.SPLIT, schema.LABEL_PATH, schema.SOURCE])
    data = duplicates.DuplicateInputs(px.ids, px.digests, px.phashes, splits, labels, sources)
    return _store(ctx, duplicates.score(data, radius=ctx.cfg.duplicates.radius))


def run_quality(ctx: CheckContext) -> CheckResult:
    """Low information, dark, light, blurry and non-face measures, scores and flags."""
    px = ctx.pixels()
    table = quality.score(px.ids, px.images, ctx.cfg.quality, progress=ctx.cfg.progress)
    return _store(ctx, table)


def _labels_module() -> ModuleType:
    try:
        return importlib.import_module("curate.clean.labels")
    except Exception as e:  # noqa: BLE001 - a broken import fails in many ways: say so, never skip
        raise CurateError(f"the labels check (curate.clean.labels) could not be imported "
                          f"({type(e).__name__}: {e}); run the other checks with "
                          "--checks duplicates,quality") from None


def run_labels(ctx: CheckContext) -> CheckResult:
    """Label issues (cleanlab, out-of-fold): lives in curate.clean.labels, imported lazily."""
    res = _labels_module().run(ctx.ds, ctx.view, ctx.cfg.labels, workspace=ctx.ws,
                               progress=ctx.cfg.progress)
    return CheckResult(res.summary(), res.tagged)


CHECKS: dict[str, Callable[[CheckContext], CheckResult]] = {
    "duplicates": run_duplicates,
    "quality": run_quality,
    "labels": run_labels,
}
