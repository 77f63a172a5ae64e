"""The `curate clean` report: reports/clean.json + clean.md with plots (matplotlib, Agg).

Plots: the class histogram per split, the issue counts per class, and a grid of examples per
issue kind, each captioned "given -> suggested" label (the labels check's suggestion, where it
ran). `label_issues.csv` is written by the labels check; the report links it when present.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.core import schema
from curate.core.imageio import read_gray
from curate.core.taxonomy import CLASSES, SPLITS
from curate.core.workspace import Workspace, atomic_path, write_json_atomic, write_text_atomic

if TYPE_CHECKING:
    from curate.clean import CleanResult

log = logging.getLogger(__name__)
EXAMPLES = 8
# kinds whose examples are shown as groups side by side (2 per group), with the group field
GROUPED = {"duplicate": schema.DUP_GROUP, "leak": schema.DUP_GROUP, "conflict": schema.DUP_GROUP,
           "near_duplicate": schema.NEAR_DUPLICATE_SET}
PERCENT = ("accuracy", "agrees", "disagrees", "precision", "recall", "with_crowd")  # fractions
# the labels check's per-class stats, shown as one table (`_label_audit_table`)
AUDIT_COLUMNS = {"flagged_per_class": "flags",
                 "estimated_precision_per_class": "estimated precision",
                 "ferplus_measured_precision_per_class": "measured precision (voted rows)",
                 "estimated_errors_per_class": "estimated wrong labels"}


@dataclass
class _Samples:
    """The view's columns the report reads, and what it gathers from them."""

    splits: list[str]
    labels: list[str | None]
    paths: list[str]
    suggested: list[str | None]
    per_class: dict[str, Counter] = field(default_factory=dict)  # kind -> class -> samples
    examples: dict[str, list[int]] = field(default_factory=dict)  # kind -> sample positions


def _save_fig(fig: Any, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=90, bbox_inches="tight")
    return path


def _grouped_bars(ax: Any, series: dict[str, Counter], title: str) -> None:
    x = np.arange(len(CLASSES))
    width = 0.8 / max(1, len(series))
    for k, (name, counts) in enumerate(series.items()):
        ax.bar(x + k * width, [counts.get(c, 0) for c in CLASSES], width=width, label=name)
    ax.set_xticks(x + 0.4 - width / 2, CLASSES)
    ax.set_title(title)


def _caption(s: _Samples, i: int) -> str:
    given, suggested = s.labels[i] or "?", s.suggested[i]
    return f"{given} -> {suggested}" if suggested else given


def _example_grid(plt: Any, s: _Samples, kinds: list[str], out: Path) -> str:
    fig, axes = plt.subplots(len(kinds), EXAMPLES, figsize=(EXAMPLES * 1.1, 1.45 * len(kinds)),
                             squeeze=False)
    for r, kind in enumerate(kinds):
        shown = s.examples.get(kind, [])
        for c in range(EXAMPLES):
            ax = axes[r][c]
            ax.axis("off")
            if c == 0:
                ax.set_title(kind, fontsize=8, loc="left")
            if c >= len(shown):
                continue
            try:
                ax.imshow(read_gray(s.paths[shown[c]]), cmap="gray", vmin=0, vmax=255)
            except (OSError, ValueError):
                pass
            ax.text(0.5, -0.06, _caption(s, shown[c]), transform=ax.transAxes, ha="center",
                    va="top", fontsize=6)
    name = _save_fig(fig, out / "clean-examples.png").name
    plt.close(fig)
    return name


def _audit_plot(plt: Any, stats: dict[str, Any], out: Path) -> str | None:
    """Per class: the label flags' estimated precision beside the precision measured on the
    rows with crowd votes (where there are any), with the number of flags above each bar."""
    est = stats.get("estimated_precision_per_class")
    if not isinstance(est, dict):
        return None
    measured = stats.get("ferplus_measured_precision_per_class") or {}
    flags = stats.get("flagged_per_class") or {}
    x = np.arange(len(CLASSES))
    fig, ax = plt.subplots(figsize=(8, 3.2))
    series = {"estimated": est} | ({"measured (voted rows)": measured} if measured else {})
    width = 0.8 / len(series)
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + k * width, [values.get(c) or 0 for c in CLASSES], width=width, label=name)
    for i, c in enumerate(CLASSES):
        ax.text(x[i] + 0.4 - width / 2, 1.02, str(flags.get(c, 0)), ha="center", fontsize=7)
    ax.set_xticks(x + 0.4 - width / 2, CLASSES)
    ax.set_ylim(0, 1.12)
    ax.set_ylabel("precision of the label flags")
    ax.set_title("label flags per class (count above): estimated vs measured precision",
                 fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    name = _save_fig(fig, out / "clean-label-audit.png").name
    plt.close(fig)
    return name


def _plots(out: Path, s: _Samples, labels_stats: dict[str, Any] | None = None) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    audit = _audit_plot(plt, labels_stats or {}, out)
    if audit:
        files["label_audit"] = audit
    fig, ax = plt.subplots(figsize=(8, 3.5))
    present = [sp for sp in SPLITS if sp in set(s.splits)]
    _grouped_bars(ax, {sp: Counter(lab for x, lab in zip(s.splits, s.labels) if x == sp)
                       for sp in present}, "samples per class")
    ax.legend()
    files["class_histogram"] = _save_fig(fig, out / "clean-class-histogram.png").name
    plt.close(fig)

    kinds = [k for k in schema.ISSUE_KINDS if s.per_class.get(k)]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    _grouped_bars(ax, {k: s.per_class[k] for k in kinds}, "flagged samples per class and issue")
    if kinds:
        ax.legend(fontsize=7, ncol=3)
    files["issues_per_class"] = _save_fig(fig, out / "clean-issues-per-class.png").name
    plt.close(fig)
    if any(s.examples.get(k) for k in kinds):
        files["examples"] = _example_grid(plt, s, kinds, out)
    return files


# --- numbers for a reader -------------------------------------------------------------------
def fmt(key: str, value: Any) -> str:
    """A stat as text: fractions as percentages (one decimal), seconds rounded, floats short."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key.endswith(PERCENT):
            return f"{100 * value:.1f}%"
        if key.endswith("seconds"):
            return f"{value:.0f} s"
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _label(key: str) -> str:
    return key.replace("_", " ")


def _small_table(title: str, values: dict[str, Any]) -> list[str]:
    """A nested dict (counts per class or per tag) as a one-row table."""
    keys = list(values)
    return [f"**{_label(title)}**", "", "| " + " | ".join(keys) + " |",
            "|" + "---:|" * len(keys), "| " + " | ".join(fmt(k, values[k]) for k in keys) + " |",
            ""]


def _label_audit_table(stats: dict[str, Any]) -> list[str]:
    """The label flags per class: how many, their estimated precision (mean probability that
    the label is wrong), the estimated wrong labels of the class, and where votes exist the
    precision measured against the crowd's plurality."""
    cols = {k: v for k, v in AUDIT_COLUMNS.items() if isinstance(stats.get(k), dict)}
    if "flagged_per_class" not in cols:
        return []
    lines = ["**label flags per class**", "", "| class | " + " | ".join(cols.values()) + " |",
             "|---|" + "---:|" * len(cols)]
    for c in CLASSES:
        lines.append(f"| {c} | " + " | ".join(
            fmt(k.replace("_per_class", ""), stats[k].get(c)) if "errors" not in k
            else f"{stats[k].get(c, 0):.0f}"
            for k in cols) + " |")
    total = {"flagged_per_class": stats.get("flagged"),
             "estimated_precision_per_class": stats.get("estimated_precision"),
             "ferplus_measured_precision_per_class": stats.get("ferplus_measured_precision"),
             "estimated_errors_per_class": stats.get("estimated_errors")}
    lines.append("| all | " + " | ".join(
        fmt(k.replace("_per_class", ""), total[k]) if "errors" not in k
        else f"{total[k] or 0:.0f}" for k in cols) + " |")
    return [*lines, ""]


def _crowd_table(stats: dict[str, Any]) -> list[str]:
    """The three-way disagreements of given label, model and crowd on the voted rows."""
    from curate.clean.crowd import DISAGREEMENTS

    if not stats.get("crowd_voted"):
        return []
    lines = [f"**given x crowd x model** ({stats['crowd_voted']} rows with votes; tags "
             "`issue:<kind>`, saved views of the same name)", "",
             "| kind | samples | meaning |", "|---|---:|---|"]
    lines += [f"| {k} | {stats.get(k, 0)} | {why} |" for k, why in DISAGREEMENTS.items()]
    if "crowd_calibrating_rows" in stats:
        lines += ["", f"Crowd roles (`crowd_role`): {stats['crowd_calibrating_rows']} voted rows "
                  "calibrated the audit; " + (
                      f"{stats['crowd_judging_rows']} train/val rows only judge it (held out by "
                      f"`--crowd-holdout`, or a crowd-free audit): on them the flags' measured precision is "
                      f"{fmt('precision', stats.get('judges_measured_precision'))} and recall "
                      f"{fmt('recall', stats.get('judges_measured_recall'))}, a figure no "
                      "calibration saw." if stats.get("crowd_judging_rows") else
                      "no train/val row was held out to judge it.")]
    return [*lines, "", *_calibration_lines(stats)]


def _calibration_lines(stats: dict[str, Any]) -> list[str]:
    """What people's answers taught the audit: who answered, and the learning curve."""
    if not stats.get("calibration_faces"):
        return []
    sources = stats.get("calibration_sources") or {}
    who = ", ".join(f"{n} from {via}" for via, n in sorted(sources.items()))
    lines = [f"**Calibrated on people's answers**: {stats['calibration_faces']} answered faces"
             + (f" ({who}; named annotators: {stats.get('calibration_annotators', 0)})"
                if who else "")
             + f", penalty {stats.get('calibration_penalty', 0):g} (chosen by cross-validation "
             "on the answers). Held-out answered faces whose consensus the audit predicts, "
             "fitted on a growing share of the others:", "",
             "| answered faces fitted | calibrated | crowd-free |", "|---:|---:|---:|"]
    free = stats.get("calibration_curve_free") or {}
    lines += [f"| {n} | {acc:.1%} | {free.get(n, float('nan')):.1%} |"
              for n, acc in (stats.get("calibration_curve") or {}).items()]
    return [*lines, ""]


def stat_lines(stats: dict[str, Any]) -> list[str]:
    """A check's summary: scalars as a two-column table, the label flags per class as one
    table, then each other nested dict as its own."""
    scalars = {k: v for k, v in stats.items() if not isinstance(v, dict)}
    lines = ["| measure | value |", "|---|---:|"]
    lines += [f"| {_label(k)} | {fmt(k, v)} |" for k, v in scalars.items()]
    lines.append("")
    lines += _label_audit_table(stats) + _crowd_table(stats)
    for k, v in stats.items():
        if isinstance(v, dict) and v and k not in AUDIT_COLUMNS:
            lines += _small_table(k, v)
    return lines


def _issues_table(summary: dict[str, Any]) -> list[str]:
    lines = ["## Issues", "", "| issue | samples | " + " | ".join(CLASSES) + " |",
             "|---|---:|" + "---:|" * len(CLASSES)]
    for kind, n in summary["issue_counts"].items():
        pc = summary["issues_per_class"].get(kind, {})
        lines.append(f"| {kind} | {n} | " + " | ".join(str(pc.get(c, 0)) for c in CLASSES) + " |")
    return lines


def _markdown(summary: dict[str, Any], files: dict[str, str]) -> str:
    lines = [f"# curate clean: dataset `{summary['dataset']}`", "",
             f"{summary['samples']} samples checked; checks run: "
             f"{', '.join(summary['ran']) or 'none'}; skipped (unchanged): "
             f"{', '.join(summary['skipped']) or 'none'}.", "", *_issues_table(summary)]
    for check, counts in summary["ran"].items():
        lines += ["", f"## {check}", "", *stat_lines(counts)]
        settings = summary["settings"].get(check) or {}
        if settings:
            lines.append("Settings: " + ", ".join(f"{_label(k)} {fmt(k, v)}"
                                                  for k, v in settings.items()) + ".")
    if summary["missing_files"]:
        lines += ["", f"## Missing or unreadable files: {summary['missing_count']}", ""]
        lines += [f"- {p}: {why}" for p, why in list(summary["missing_files"].items())[:50]]
    if summary.get("label_issues_csv"):
        lines += ["", f"Label issues, one row per checked sample: `{summary['label_issues_csv']}`"]
    lines += [""] + [f"![{k}]({v})" for k, v in files.items()]
    return "\n".join(lines) + "\n"


# --- gathering --------------------------------------------------------------------------------
def _read(view: Any) -> tuple[_Samples, list[list[str]], dict[str, list]]:
    have = view.get_field_schema()
    splits, labels, tags, paths = view.values([schema.SPLIT, schema.LABEL_PATH, schema.TAGS,
                                               schema.FILEPATH])
    suggested = (view.values(f"{schema.SUGGESTED_LABEL}.label") if schema.SUGGESTED_LABEL in have
                 else [None] * len(paths))
    group_of = {f: view.values(f) for f in set(GROUPED.values()) if f in have}
    return _Samples(splits, labels, paths, suggested), tags, group_of


def _gather(view: Any) -> _Samples:
    """Issue counts per class, and examples per kind: two members of each of the first groups
    for grouped kinds, else the first flagged samples."""
    s, tags, group_of = _read(view)
    members: dict[str, dict[Any, list[int]]] = {}  # grouped kinds: group -> positions
    for i, (lab, tg) in enumerate(zip(s.labels, tags)):
        for t in tg or []:
            if not t.startswith(schema.ISSUE_PREFIX):
                continue
            kind = t[len(schema.ISSUE_PREFIX):]
            s.per_class.setdefault(kind, Counter())[lab] += 1
            values = group_of.get(GROUPED.get(kind, ""))
            group = values[i] if values is not None else None
            if group is not None:
                members.setdefault(kind, {}).setdefault(group, []).append(i)
            elif len(s.examples.setdefault(kind, [])) < EXAMPLES:
                s.examples[kind].append(i)
    for kind, groups in members.items():
        pairs = [i for g in groups.values() if len(g) >= 2 for i in g[:2]]
        s.examples[kind] = (pairs + s.examples.get(kind, []))[:EXAMPLES]
    return s


def write_report(ds: Any, view: Any, ws: Workspace, result: CleanResult,
                 missing: dict[str, str]) -> Path:
    """Write reports/clean.json and clean.md (+ plots); returns the JSON path."""
    out = ws.reports
    out.mkdir(parents=True, exist_ok=True)
    s = _gather(view)
    csv_path = out / "label_issues.csv"
    summary = {
        "dataset": ds.name, "samples": result.samples,
        "ran": {name: res.counts() for name, res in result.ran.items()},
        "settings": result.settings, "skipped": result.skipped,
        "issue_counts": {k: sum(v.values()) for k, v in s.per_class.items()},
        "issues_per_class": {k: dict(v) for k, v in s.per_class.items()},
        "class_counts": dict(Counter(s.labels)), "split_counts": dict(Counter(s.splits)),
        "missing_count": len(missing), "missing_files": dict(list(missing.items())[:1000]),
        "label_issues_csv": str(csv_path) if csv_path.is_file() else None,
    }
    try:
        labels_run = result.ran.get("labels")
        files = _plots(out, s, labels_run.stats if labels_run else None)
    except Exception as e:  # noqa: BLE001 - a plot must not lose the report
        log.warning("plots failed: %s", e)
        files = {}
    summary["plots"] = files
    path = write_json_atomic(summary, out / "clean.json")
    write_text_atomic(_markdown(summary, files), out / "clean.md")
    return path
