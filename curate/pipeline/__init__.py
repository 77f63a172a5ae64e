"""`curate pipeline`: every stage from one config file, skipping what is already done.

Each stage keeps its own fingerprint (settings + the state of the samples it reads), so a re-run
skips unchanged stages and re-runs changed ones; a stage whose upstream changed the data sees a
new fingerprint and re-runs too. A crash or Ctrl-C leaves each stage resumable (their own
guarantee); re-running the pipeline completes it. The run ends with one report.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core import options
from curate.core.errors import InputError, ModelError
from curate.pipeline.config import STAGES, PipelineConfig, StageEntry, load_config

__all__ = ["PipelineResult", "StageOutcome", "load_config", "run_pipeline"]

log = logging.getLogger(__name__)


@dataclass
class StageOutcome:
    stage: str
    status: str  # ran | noop | skipped
    seconds: float
    reason: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    command: str = ""


@dataclass
class PipelineResult:
    config: PipelineConfig
    outcomes: list[StageOutcome] = field(default_factory=list)
    report_md: Path | None = None
    report_html: Path | None = None


def _build(entry: StageEntry, cfg: PipelineConfig, progress: bool) -> Any:
    cls, _ = entry.spec.load()
    names = options.accepts(cls)
    kwargs = dict(entry.settings)
    injected = {"dataset": cfg.dataset, "workspace": cfg.workspace, "progress": progress,
                "seed": cfg.seed}
    for key, value in injected.items():
        if key in names and key not in kwargs:
            kwargs[key] = value
    return options.build(cls, kwargs)


def _missing_input(entry: StageEntry) -> str | None:
    """Why a stage cannot run: a model stage whose `model` key is not set, or an ingest whose
    input is not there (both skipped when the table says `required = false`); else None."""
    if entry.spec.name == "ingest":  # a required one fails in ingest, with its own message
        path = Path(entry.settings.get("path", ""))
        return None if entry.required or path.exists() else f"input not found: {path}"
    if not entry.spec.needs_model or entry.settings.get("model"):
        return None
    cls, _ = entry.spec.load()
    model = next((f for f in dataclasses.fields(cls) if f.name == "model"), None)
    if model is None or model.default is not dataclasses.MISSING:
        return None
    return (f"no model configured: set [{entry.spec.name}] model = a local diffusers folder or "
            "checkpoint")


def plain(value: Any, depth: int = 0) -> Any:
    """A JSON-friendly copy of a stage result (dataclasses, paths, tuples), bounded in depth."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v, depth + 1) for k, v in value.items()} if depth < 8 else "..."
    if isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value[:50]] if depth < 8 else "..."
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def command_line(entry: StageEntry) -> str:
    """The CLI command equivalent to a stage table (flags = keys with `_` as `-`)."""
    spec, s = entry.spec, dict(entry.settings)
    if spec.name == "ingest":
        return f"curate ingest {s.pop('source')} {s.pop('path')}"
    parts = [spec.command, *filter(None, [spec.batch_flags])]
    for key, value in s.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            parts.append(f"{flag} {','.join(map(str, value))}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def _run_one(entry: StageEntry, cfg: PipelineConfig, progress: bool) -> StageOutcome:
    name, cmd = entry.spec.name, command_line(entry)
    t0 = time.perf_counter()
    missing = _missing_input(entry)
    if missing:
        if entry.required:
            raise ModelError(f"stage {name}: {missing}")
        return StageOutcome(name, "skipped", 0.0, missing, command=cmd)
    try:
        stage_cfg = _build(entry, cfg, progress)
        _, fn = entry.spec.load()
        result = fn(stage_cfg)
    except ModelError as e:
        if entry.required:
            raise
        return StageOutcome(name, "skipped", time.perf_counter() - t0, str(e), command=cmd)
    seconds = time.perf_counter() - t0
    if isinstance(result, tuple):  # e.g. ingest returns (report, report_path)
        result = result[0]
    noop = result.get("noop") if isinstance(result, dict) else getattr(result, "noop", False)
    status = "noop" if noop else "ran"
    summary = plain(result)
    return StageOutcome(name, status, seconds, summary=summary if isinstance(summary, dict)
                        else {"result": summary}, command=cmd)


def _select(cfg: PipelineConfig, start: str | None, until: str | None) -> list[StageEntry]:
    order = list(STAGES)
    for value, flag in ((start, "--from"), (until, "--until")):
        if value is not None and value not in order:
            raise InputError(f"{flag} {value!r}: choose one of {', '.join(order)}")
    lo = order.index(start) if start else 0
    hi = order.index(until) if until else len(order) - 1
    return [e for e in cfg.stages if lo <= order.index(e.spec.name) <= hi]


def run_pipeline(cfg: PipelineConfig, start: str | None = None, until: str | None = None,
                 progress: bool = True) -> PipelineResult:
    """Run the selected stages in flow order, then write the report."""
    from curate.pipeline.report import write_report

    result = PipelineResult(cfg)
    for entry in _select(cfg, start, until):
        log.info("stage %s: %s", entry.spec.name, command_line(entry))
        outcome = _run_one(entry, cfg, progress)
        log.info("stage %s: %s in %.1f s%s", outcome.stage, outcome.status, outcome.seconds,
                 f" ({outcome.reason})" if outcome.reason else "")
        result.outcomes.append(outcome)
    result.report_md, result.report_html = write_report(result)
    return result
