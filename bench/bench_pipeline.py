"""Benchmark: the README's main job (`curate pipeline --config pipelines/fer2013-cpu.toml`) from
scratch on the real FER-2013, then again (a no-op), each stage's wall time against its budget
(`BUDGET`: the whole job and a second, no-op run within `TOTAL_BUDGET` / `NOOP_BUDGET`). Clean's
budget fits the profile's 3 folds x 5 epochs; compare's, the 15 runs of raw, curated and the three
robust-training baselines x 3 seeds. The measured times: docs/results.md#main-job-time.

    .venv/bin/python bench/bench_pipeline.py [--config pipelines/fer2013-cpu.toml]

Runs in its own database (`bench_pipeline`, dropped first unless --resume) and workspace, so a
user's `fer` dataset is never touched. About 2 hours on 2 cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("FIFTYONE_DATABASE_NAME", "bench_pipeline")
ROOT = Path(__file__).resolve().parents[1]

# Seconds per stage; balance and the exports share one 2-minute budget.
BUDGET = {"ingest": 60, "clean": 1200, "restore": 120, "balance+export": 120, "compare": 6000}
TOTAL_BUDGET, NOOP_BUDGET = 150 * 60, 60


def _group(stage: str) -> str:
    return "balance+export" if stage in ("balance", "export") else stage


def _times(result) -> dict[str, tuple[float, str]]:  # noqa: ANN001 - a PipelineResult
    out: dict[str, tuple[float, str]] = {}
    for o in result.outcomes:
        secs, status = out.get(_group(o.stage), (0.0, ""))
        out[_group(o.stage)] = (secs + o.seconds, status + ("," if status else "") + o.status)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "pipelines" / "fer2013-cpu.toml")
    ap.add_argument("--workspace", type=Path, default=Path("/tmp/bench_pipeline/workspace"))
    ap.add_argument("--resume", action="store_true", help="keep the database and workspace")
    args = ap.parse_args()

    import shutil

    from rich.console import Console
    from rich.table import Table

    from curate.core import store
    from curate.pipeline import load_config, run_pipeline

    cfg = load_config(args.config)
    cfg = dataclasses.replace(cfg, workspace=args.workspace / cfg.dataset)
    if not args.resume:
        if cfg.dataset in store.fo().list_datasets():
            store.fo().delete_dataset(cfg.dataset)
        shutil.rmtree(args.workspace, ignore_errors=True)
    runs = []
    for _ in range(2):
        t0 = time.perf_counter()
        result = run_pipeline(cfg, progress=False)
        runs.append((_times(result), time.perf_counter() - t0))
    (first, t_first), (second, t_second) = runs

    table = Table("stage", "budget s", "first run s", "of budget", "status", "second run s",
                  "status", title=f"curate pipeline --config {args.config.name} (FER-2013)")
    for stage, (secs, status) in first.items():
        budget = BUDGET.get(stage)
        ratio = f"{secs / budget:.2f}x" if budget else "-"
        table.add_row(stage, str(budget or "-"), f"{secs:.1f}", ratio, status,
                      f"{second[stage][0]:.1f}", second[stage][1])
    table.add_row("whole job (incl. report)", str(TOTAL_BUDGET), f"{t_first:.1f}",
                  f"{t_first / TOTAL_BUDGET:.2f}x", "", f"{t_second:.1f}",
                  f"{t_second / NOOP_BUDGET:.2f}x of 60 s")
    Console().print(table)
    Console().print(f"report: {result.report_md}")


if __name__ == "__main__":
    main()
