"""The `curate clean` report: reports/clean.json + clean.md with plots (matplotlib, Agg).

Plots: the class histogram per split, the issue counts per class, and a grid of examples per
issue kind. `label_issues.csv` is written by the labels check; the report links it when present.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.core.imageio import read_gray
from curate.core.schema import ISSUE_KINDS
from curate.core.taxonomy import CLASSES, SPLITS
from curate.core.workspace import Workspace, write_json_atomic

if TYPE_CHECKING:
    from curate.clean import CleanResult

log = logging.getLogger(__name__)
EXAMPLES = 8
# kinds whose examples are shown as groups side by side (2 per group), with the group field
GROUPED = {"duplicate": "dup_group", "leak": "dup_group", "conflict": "dup_group",
           "near_duplicate": "near_duplicate_set"}


def _save_fig(fig: Any, path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".png", dir=path.parent)
    os.close(fd)
    fig.savefig(tmp, dpi=90, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def _plots(out: Path, splits: list[str], labels: list[str], per_class: dict[str, Counter],
           examples: dict[str, list[str]]) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    fig, ax = plt.subplots(figsize=(8, 3.5))
    x = np.arange(len(CLASSES))
    present = [s for s in SPLITS if s in set(splits)]
    for k, split in enumerate(present):
        c = Counter(lab for sp, lab in zip(splits, labels) if sp == split)
        ax.bar(x + k * 0.8 / max(1, len(present)), [c.get(n, 0) for n in CLASSES],
               width=0.8 / max(1, len(present)), label=split)
    ax.set_xticks(x + 0.4 - 0.4 / max(1, len(present)), CLASSES)
    ax.set_title("samples per class")
    ax.legend()
    files["class_histogram"] = _save_fig(fig, out / "clean-class-histogram.png").name
    plt.close(fig)

    kinds = [k for k in ISSUE_KINDS if per_class.get(k)]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for k, kind in enumerate(kinds):
        ax.bar(x + k * 0.8 / max(1, len(kinds)), [per_class[kind].get(n, 0) for n in CLASSES],
               width=0.8 / max(1, len(kinds)), label=kind)
    ax.set_xticks(x + 0.4 - 0.4 / max(1, len(kinds)), CLASSES)
    ax.set_title("flagged samples per class and issue")
    if kinds:
        ax.legend(fontsize=7, ncol=3)
    files["issues_per_class"] = _save_fig(fig, out / "clean-issues-per-class.png").name
    plt.close(fig)

    rows = [(k, p) for k in kinds for p in examples.get(k, [])[:EXAMPLES]]
    if rows:
        fig, axes = plt.subplots(len(kinds), EXAMPLES, figsize=(EXAMPLES, 1.1 * len(kinds)),
                                 squeeze=False)
        for r, kind in enumerate(kinds):
            for c in range(EXAMPLES):
                ax = axes[r][c]
                ax.axis("off")
                paths = examples.get(kind, [])
                if c < len(paths):
                    try:
                        ax.imshow(read_gray(paths[c]), cmap="gray", vmin=0, vmax=255)
                    except (OSError, ValueError):
                        pass
                if c == 0:
                    ax.set_title(kind, fontsize=8, loc="left")
        files["examples"] = _save_fig(fig, out / "clean-examples.png").name
        plt.close(fig)
    return files


def _markdown(summary: dict[str, Any], files: dict[str, str]) -> str:
    lines = [f"# curate clean: dataset `{summary['dataset']}`", "",
             f"{summary['samples']} samples checked; checks run: "
             f"{', '.join(summary['ran']) or 'none'}; skipped (unchanged): "
             f"{', '.join(summary['skipped']) or 'none'}.", ""]
    lines += ["## Issues", "", "| issue | samples | " + " | ".join(CLASSES) + " |",
              "|---|---|" + "---|" * len(CLASSES)]
    for kind, n in summary["issue_counts"].items():
        pc = summary["issues_per_class"].get(kind, {})
        lines.append(f"| {kind} | {n} | " + " | ".join(str(pc.get(c, 0)) for c in CLASSES) + " |")
    for check, counts in summary["ran"].items():
        lines += ["", f"## {check}", ""]
        lines += [f"- {k}: {v}" for k, v in counts.items()]
    if summary["missing_files"]:
        lines += ["", f"## Missing or unreadable files: {summary['missing_count']}", ""]
        lines += [f"- {p}: {why}" for p, why in list(summary["missing_files"].items())[:50]]
    if summary.get("label_issues_csv"):
        lines += ["", f"Label issues, one row per checked sample: `{summary['label_issues_csv']}`"]
    lines += [""] + [f"![{k}]({v})" for k, v in files.items()]
    return "\n".join(lines) + "\n"


def write_report(ds: Any, view: Any, ws: Workspace, result: CleanResult,
                 missing: dict[str, str]) -> Path:
    """Write reports/clean.json and clean.md (+ plots); returns the JSON path."""
    out = ws.reports
    out.mkdir(parents=True, exist_ok=True)
    splits, labels, tags, paths = view.values(["split", "ground_truth.label", "tags", "filepath"])
    schema = view.get_field_schema()
    group_of = {f: view.values(f) for f in set(GROUPED.values()) if f in schema}
    per_class: dict[str, Counter] = {}
    examples: dict[str, list[str]] = {}
    members: dict[str, dict[Any, list[str]]] = {}  # grouped kinds: group -> paths
    for i, (lab, tg, p) in enumerate(zip(labels, tags, paths)):
        for t in tg or []:
            if t.startswith("issue:"):
                kind = t.split(":", 1)[1]
                per_class.setdefault(kind, Counter())[lab] += 1
                values = group_of.get(GROUPED.get(kind, ""))
                group = values[i] if values is not None else None
                if group is not None:
                    members.setdefault(kind, {}).setdefault(group, []).append(p)
                elif len(examples.setdefault(kind, [])) < EXAMPLES:
                    examples[kind].append(p)
    for kind, groups in members.items():  # two members of each of the first groups
        pairs = [p for g in groups.values() if len(g) >= 2 for p in g[:2]]
        examples[kind] = (pairs + examples.get(kind, []))[:EXAMPLES]
    csv_path = out / "label_issues.csv"
    summary = {
        "dataset": ds.name, "samples": result.samples, "ran": result.ran,
        "skipped": result.skipped,
        "issue_counts": {k: sum(v.values()) for k, v in per_class.items()},
        "issues_per_class": {k: dict(v) for k, v in per_class.items()},
        "class_counts": dict(Counter(labels)), "split_counts": dict(Counter(splits)),
        "missing_count": len(missing), "missing_files": dict(list(missing.items())[:1000]),
        "label_issues_csv": str(csv_path) if csv_path.is_file() else None,
    }
    try:
        files = _plots(out, list(splits), list(labels), per_class, examples)
    except Exception as e:  # a plot must not lose the report
        log.warning("plots failed: %s", e)
        files = {}
    summary["plots"] = files
    path = write_json_atomic(summary, out / "clean.json")
    md = out / "clean.md"
    tmp = md.with_name(f".{md.name}.tmp")
    tmp.write_text(_markdown(summary, files))
    os.replace(tmp, md)
    return path
