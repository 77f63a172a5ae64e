"""The pipeline's one report (Markdown + HTML): dataset before/after, issues and decisions,
per-stage summaries, the raw vs curated comparison, timings and the commands to reproduce.
Everything but the timings table is a function of the data and settings, so an interrupted and
resumed run writes the same report as an uninterrupted one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate import store
from curate.taxonomy import CLASSES, SPLITS
from curate.workspace import Workspace

if TYPE_CHECKING:
    from curate.pipeline import PipelineResult

TIMINGS_HEADING = "## Timings"


def _counts_table(counts: Counter, title: str) -> list[str]:
    lines = [f"**{title}**", "", "| split | " + " | ".join(CLASSES) + " | total |",
             "|---|" + "---:|" * (len(CLASSES) + 1)]
    for split in SPLITS:
        row = [counts.get((split, c), 0) for c in CLASSES]
        lines.append(f"| {split} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    return [*lines, ""]


def _dataset_section(ds: Any) -> list[str]:
    from curate.views import curated_view, raw_view

    out = ["## Dataset before and after", ""]
    for title, spec in (("raw", raw_view(ds)), ("curated", curated_view(ds))):
        splits = spec.view.values("split")
        labels = spec.view.values(spec.label_path)
        out += _counts_table(Counter(zip(splits, labels)), f"{title} ({len(splits)} samples)")
    return out


def _issues_section(ds: Any) -> list[str]:
    tags = {t: n for t, n in sorted(ds.count_sample_tags().items())
            if t.startswith(("issue:", "review:"))}
    out = ["## Issues found and decisions", ""]
    out += [f"- `{t}`: {n}" for t, n in tags.items()] or ["- no issue tags"]
    if "excluded" in ds.get_field_schema():
        out.append(f"- excluded: {len(ds.match({'excluded': True}))}")
    return [*out, ""]


def _scalar_lines(summary: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in summary.items():
        if key in ("seconds",) or key.endswith("_seconds"):
            continue
        if isinstance(value, dict):
            lines += _scalar_lines(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            lines.append(f"- {prefix}{key}: {value}")
    return lines


def _stages_section(result: PipelineResult) -> list[str]:
    out = ["## Stages", ""]
    for o in result.outcomes:
        out += [f"### {o.stage}", "", f"`{o.command}`", ""]
        if o.status == "skipped":
            out += [f"Skipped: {o.reason}", ""]
            continue
        out += [*_scalar_lines(o.summary)[:40], ""]
    return out


def render(result: PipelineResult) -> str:
    cfg = result.config
    ds = store.load_dataset(cfg.dataset)
    lines = [f"# Pipeline report: dataset `{cfg.dataset}`", "",
             f"Config: `{cfg.path}`", ""]
    lines += _dataset_section(ds) + _issues_section(ds) + _stages_section(result)
    lines += ["## Reproduce", "", "```bash", f"curate pipeline --config {cfg.path}", "",
              "# or stage by stage:"]
    ws = f" --workspace {cfg.workspace}" if cfg.workspace else ""
    for o in result.outcomes:
        prog, rest = o.command.split(" ", 1)
        lines.append(f"{prog} --dataset {cfg.dataset}{ws} {rest}")
    lines += ["```", "", TIMINGS_HEADING, "", "| stage | status | seconds |", "|---|---|---:|"]
    lines += [f"| {o.stage} | {o.status} | {o.seconds:.1f} |" for o in result.outcomes]
    total = sum(o.seconds for o in result.outcomes)
    lines += [f"| total | | {total:.1f} |", ""]
    return "\n".join(lines)


def write_report(result: PipelineResult) -> tuple[Path, Path]:
    import markdown

    from curate.workspace import write_text_atomic

    ws = Workspace.for_dataset(result.config.dataset, result.config.workspace)
    text = render(result)
    md = write_text_atomic(text, ws.reports / "pipeline.md")
    body = markdown.markdown(text, extensions=["tables", "fenced_code"])
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>Pipeline report</title>"
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}"
            "</style></head><body>" + body + "</body></html>")
    return md, write_text_atomic(html, ws.reports / "pipeline.html")
