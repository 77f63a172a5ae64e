"""The pipeline's one report (Markdown + HTML): what people's answers say (the comparison's
judges, train/report_answers.py), dataset before/after, issues and decisions,
per-stage summaries, the raw vs curated comparison, timings and the commands to reproduce.
Everything but the timings table is a function of the data and settings, so an interrupted and
resumed run writes the same report as an uninterrupted one.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curate.core import runs, store
from curate.core.schema import (
    EXCLUDED,
    EXCLUSION_REASON,
    ISSUE_PREFIX,
    LABEL_PATH,
    ORIG_LABEL,
    RESTORE_METHOD,
    RESTORED_FILEPATH,
    REVIEW_PREFIX,
    SOFT_LABEL,
    SOURCE,
    SPLIT,
    SYNTHETIC_SOURCE,
    issue_tag,
)
from curate.core.taxonomy import CLASSES, SPLITS
from curate.core.workspace import Workspace, write_json_atomic

if TYPE_CHECKING:
    from curate.pipeline import PipelineResult

RUN_HEADING = "## This run"


def _counts_table(counts: Counter, title: str) -> list[str]:
    lines = [f"**{title}**", "", "| split | " + " | ".join(CLASSES) + " | total |",
             "|---|" + "---:|" * (len(CLASSES) + 1)]
    for split in SPLITS:
        row = [counts.get((split, c), 0) for c in CLASSES]
        lines.append(f"| {split} | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    return [*lines, ""]


def _dataset_section(ds: Any) -> list[str]:
    from curate.core.views import curated_view, raw_view

    out = ["## Dataset before and after", ""]
    for title, spec in (("raw", raw_view(ds)), ("curated", curated_view(ds))):
        splits = spec.view.values(SPLIT)
        labels = spec.view.values(spec.label_path)
        out += _counts_table(Counter(zip(splits, labels)), f"{title} ({len(splits)} samples)")
    return out


def _duplicate_line(dup: dict[str, Any]) -> list[str]:
    if not dup:
        return []
    return [f"- duplicates: {dup.get('exact_groups')} exact groups ({dup.get('exact_rows')} "
            f"images), {dup.get('exact_cross_split_groups')} spanning splits, "
            f"{dup.get('exact_conflict_groups')} with conflicting labels; "
            f"{dup.get('near_groups')} near-duplicate groups at Hamming radius {dup.get('radius')}"]


def _label_lines(lab: dict[str, Any]) -> list[str]:
    if lab.get("oof_accuracy") is None:
        return []
    per = ", ".join(f"{c} {n}" for c, n in (lab.get("flagged_per_class") or {}).items())
    out = [f"- label issues: {lab.get('flagged')} of {lab.get('checked')} train+val flagged "
           f"({per}); out-of-fold accuracy {lab['oof_accuracy']:.1%}, log-loss "
           f"{lab.get('log_loss', float('nan')):.3f} over {lab.get('folds')} folds"]
    if lab.get("warning"):
        out.append(f"- **{lab['warning']}**")
    if lab.get("outliers") is not None:
        out.append(f"- outliers (Datalab's rule on the fold model's features, tagged for "
                   f"review, never dropped): {lab['outliers']}")
    if lab.get("near_duplicate_sets") is not None:
        out.append(f"- near duplicates by features (Datalab's rule): "
                   f"{lab['near_duplicate_sets']} sets, {lab['near_duplicate_rows']} images, "
                   f"{lab['near_duplicate_cross_split_sets']} spanning splits; "
                   f"{lab.get('near_duplicates')} train+val images tagged for review")
    if lab.get("test_audited"):
        out.append(f"- test split audited, not changed: {lab.get('test_would_flag')} of "
                   f"{lab['test_audited']} would be flagged; the fold models agree with "
                   f"{lab.get('test_accuracy') or 0:.1%} of its labels")
    return out


def _check_lines(ds: Any) -> list[str]:
    """What `curate clean` found, from its run history (counts only: no timings)."""
    dup = runs.last(ds, runs.check_stage("duplicates")).counts
    lab = runs.last(ds, runs.check_stage("labels")).counts
    return _duplicate_line(dup) + _label_lines(lab)


def _issues_section(ds: Any) -> list[str]:
    tags = {t: n for t, n in sorted(ds.count_sample_tags().items())
            if t.startswith((ISSUE_PREFIX, REVIEW_PREFIX))}
    out = ["## Issues found and decisions", ""]
    out += [f"- `{t}`: {n}" for t, n in tags.items()] or ["- no issue tags"]
    out += _check_lines(ds)
    have = ds.get_field_schema()
    if EXCLUDED in have:
        reasons = ds.match({EXCLUDED: True}).count_values(EXCLUSION_REASON)
        out.append(f"- excluded (kept in the dataset, left out of the curated view): "
                   f"{sum(reasons.values())}")
        out += [f"  - {r or 'no reason recorded'}: {n}"
                for r, n in sorted(reasons.items(), key=lambda kv: str(kv[0]))]
    if ORIG_LABEL in have:
        from curate.core.views import raw_view

        raw = raw_view(ds)
        ids, now = ds.values("id"), ds.values(LABEL_PATH)
        before = dict(zip(raw.view.values("id"), raw.view.values(raw.label_path), strict=True))
        changed = sum(1 for i, lab in zip(ids, now, strict=True) if i in before
                      and before[i] != lab)
        out.append(f"- relabelled (ground_truth differs from the source's label): {changed}")
    if SOFT_LABEL in have:
        soften = runs.last(ds, runs.APPLY).config.get("soften")
        out.append(f"- soft labels (apply --soften {soften}: the curated trainer's targets): "
                   f"{len(ds.exists(SOFT_LABEL))} train/val samples")
    return [*out, ""]


def _restore_section(ds: Any) -> list[str]:
    have = ds.get_field_schema()
    if RESTORED_FILEPATH not in have:
        return ["## Restoration", "", "- not run", ""]
    done = ds.exists(RESTORED_FILEPATH)
    methods = done.count_values(RESTORE_METHOD) if RESTORE_METHOD in have else {}
    changed = ds.count_sample_tags().get(issue_tag("restore_changed"), 0)
    by_method = sorted(((m or "method not recorded"), n) for m, n in methods.items())
    return ["## Restoration", "", f"- restored images: {len(done)} "
            f"({', '.join(f'{m}: {n}' for m, n in by_method)})",
            f"- expression changed after restoration (`issue:restore_changed`): {changed}", ""]


def _synth_section(ds: Any, result: PipelineResult) -> list[str]:
    n = len(ds.match({SOURCE: SYNTHETIC_SOURCE}))
    out = ["## Synthesis", "", f"- synthetic samples in the dataset: {n}"]
    out += [f"- skipped: {o.reason}" for o in result.outcomes
            if o.stage == "synth" and o.status == "skipped"]
    return [*out, ""]


def _pct(pair: Any) -> str:
    return f"{100 * pair[0]:.1f} ± {100 * pair[1]:.1f}"


def _compare_summary(result: PipelineResult) -> dict[str, Any] | None:
    """The comparison stage's outcome summary (its report's summary under "summary"); None
    when it did not run."""
    found = [o.summary for o in result.outcomes if o.stage == "compare" and o.status != "skipped"]
    return found[-1] if found and "summary" in found[-1] else None


def _answers_section(result: PipelineResult) -> list[str]:
    """The report's first section: what the comparison's judging answers say."""
    from train.report_answers import HEADING, answers_section

    found = _compare_summary(result)
    if found is None:
        return [HEADING, "", "- no comparison ran (`[compare]`), so no answers judged curated "
                "against raw", ""]
    return [*answers_section(found["summary"]), ""]


def _compare_section(result: PipelineResult) -> list[str]:
    found = _compare_summary(result)
    if found is None:
        return ["## Raw vs curated", "", "- not run", ""]
    from train.report import WITHOUT, moved_lines

    out = ["## Raw vs curated", ""]
    for block in found["summary"].get("splits", []):
        rows = block["table"]
        metrics = [m for m in (rows[0]["scores"] if rows else {}) if WITHOUT not in m]
        split = block["truth"]["split"]
        out += [f"Scored on the {split} split" + (" (a dev figure)" if split != "test" else "")
                + "; mean ± std over seeds.", "",
                "| backbone | variant | seeds | " + " | ".join(f"{m} %" for m in metrics) + " |",
                "|---|---|---:|" + "---:|" * len(metrics)]
        for r in rows:
            out.append(f"| {r['backbone']} | {r['variant']} | {r['seeds']} | "
                       + " | ".join(_pct(r["scores"][m]) for m in metrics) + " |")
        out += ["", *moved_lines(block), ""]
    if found.get("markdown"):
        out.append(f"- full comparison report (without train copies, every verdict, cost): "
                   f"`{found['markdown']}`")
    return [*out, ""]


def _scalar_lines(summary: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, value in summary.items():
        if isinstance(value, dict):
            lines += _scalar_lines(value, f"{prefix}{key}.")
        elif not isinstance(value, list):
            lines.append(f"- {prefix}{key}: {value}")
    return lines


def _run_section(result: PipelineResult, worked: dict[str, float]) -> list[str]:
    out = [RUN_HEADING, "", "What this invocation did (work done now vs found done before), how "
           "long each stage took, and how long it took the last time it did the work.", "",
           "| stage | status | seconds | seconds when last run for real |", "|---|---|---:|---:|"]
    out += [f"| {o.stage} | {o.status} | {o.seconds:.1f} | "
            f"{_fmt_secs(worked.get(timing_key(o)))} |" for o in result.outcomes]
    out += [f"| total | | {sum(o.seconds for o in result.outcomes):.1f} | "
            f"{sum(worked.get(timing_key(o), 0.0) for o in result.outcomes):.1f} |", ""]
    for o in result.outcomes:
        detail = [f"- skipped: {o.reason}"] if o.status == "skipped" else _scalar_lines(o.summary)
        out += [f"### {o.stage}", "", f"`{o.command}`", "", *detail[:40], ""]
    return out


def timing_key(o: Any) -> str:
    return o.command or o.stage


def _fmt_secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def update_timings(path: Path, result: PipelineResult) -> dict[str, float]:
    """Seconds of each stage's last run that did the work (kept across no-op runs)."""
    try:
        worked = {k: float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        worked = {}
    for o in result.outcomes:
        if o.status == "ran":
            worked[timing_key(o)] = round(o.seconds, 1)
    write_json_atomic(worked, path)
    return worked


def render(result: PipelineResult, worked: dict[str, float] | None = None) -> str:
    """The report; everything above RUN_HEADING depends only on the data and the settings."""
    cfg = result.config
    ds = store.load_dataset(cfg.dataset)
    lines = [f"# Pipeline report: dataset `{cfg.dataset}`", "", f"Config: `{cfg.path}`", ""]
    lines += _answers_section(result) + _dataset_section(ds) + _issues_section(ds) + _restore_section(ds)
    lines += _synth_section(ds, result) + _compare_section(result)
    ws = f" --workspace {cfg.workspace}" if cfg.workspace else ""
    lines += ["## Reproduce", "", "```bash", f"curate pipeline --config {cfg.path}", "",
              "# or stage by stage:"]
    for o in result.outcomes:
        prog, rest = o.command.split(" ", 1)
        lines.append(f"{prog} --dataset {cfg.dataset}{ws} {rest}")
    lines += ["```", ""] + _run_section(result, worked or {})
    return "\n".join(lines)


def write_report(result: PipelineResult) -> tuple[Path, Path]:
    from curate.core.htmlpage import to_html
    from curate.core.workspace import write_text_atomic

    ws = Workspace.for_dataset(result.config.dataset, result.config.workspace)
    text = render(result, update_timings(ws.reports / "pipeline-timings.json", result))
    md = write_text_atomic(text, ws.reports / "pipeline.md")
    return md, write_text_atomic(to_html(text, "Pipeline report"), ws.reports / "pipeline.html")
