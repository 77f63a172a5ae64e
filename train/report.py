"""The comparison report: Markdown + HTML with matplotlib plots (per-class F1 bars, confusion
matrices side by side, learning curves), a mean ± std table and the seed-noise verdicts.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.taxonomy import CLASSES
from curate.core.workspace import atomic_path, write_json_atomic, write_text_atomic

RESULTS, REPORT_MD, REPORT_HTML = "results.json", "report.md", "report.html"
SECTIONS = ("Summary", "Mean ± std over seeds", "Test without train copies",
            "Differences vs seed noise", "Per-class F1", "Confusion matrices", "Learning curves",
            "Cost")


def _plt():  # noqa: ANN202
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:  # noqa: ANN001
    """Write the figure as PNG (atomically); returns it base64-encoded for the HTML."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    _plt().close(fig)
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(buf.getvalue())
    return base64.b64encode(buf.getvalue()).decode()


def _group(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    out: dict[tuple[str, str], list[dict]] = {}
    for r in results:
        out.setdefault((r["backbone"], r["variant"]), []).append(r)
    return out


def plot_f1(results: list[dict], path: Path) -> str:
    plt, groups = _plt(), _group(results)
    fig, ax = plt.subplots(figsize=(9, 3.5))
    width = 0.8 / max(1, len(groups))
    for k, ((bb, v), rs) in enumerate(groups.items()):
        f1 = np.array([[r["test"]["per_class"][c]["f1"] for c in CLASSES] for r in rs])
        ax.bar(np.arange(len(CLASSES)) + k * width, f1.mean(0), width,
               yerr=f1.std(0) if len(rs) > 1 else None, label=f"{v} ({bb})")
    ax.set_xticks(np.arange(len(CLASSES)) + 0.4 - width / 2, CLASSES)
    ax.set_ylabel("test F1")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_confusions(results: list[dict], path: Path) -> str:
    plt, groups = _plt(), _group(results)
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.4), squeeze=False)
    for ax, ((bb, v), rs) in zip(axes[0], groups.items(), strict=False):
        cm = np.sum([np.array(r["test"]["confusion"]) for r in rs], axis=0).astype(float)
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
        ax.set_title(f"{v} ({bb})", fontsize=8)
        ax.set_xticks(range(len(CLASSES)), [c[:3] for c in CLASSES], fontsize=6)
        ax.set_yticks(range(len(CLASSES)), [c[:3] for c in CLASSES], fontsize=6)
        for i in range(len(CLASSES)):
            for j in range(len(CLASSES)):
                ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=5)
    return _save(fig, path)


def plot_curves(results: list[dict], path: Path) -> str:
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.2))
    for r in results:
        h = r["history"]
        label = f"{r['variant']} {r['backbone']} s{r['seed']}"
        a1.plot([x["epoch"] for x in h], [x["train_loss"] for x in h], label=label)
        a2.plot([x["epoch"] for x in h], [x.get("val_macro_f1", np.nan) for x in h], label=label)
    a1.set_title("train loss", fontsize=9)
    a2.set_title("val macro-F1", fontsize=9)
    a2.legend(fontsize=6)
    return _save(fig, path)


def _fmt(pair: tuple[float, float]) -> str:
    return f"{100 * pair[0]:.1f} ± {100 * pair[1]:.1f}"


def _train_minutes(results: list[dict]) -> float:
    return sum(r["cost"]["train_seconds"] for r in results) / 60


def _soft_line(results: list[dict]) -> list[str]:
    soft = {r["variant"]: r.get("soft_targets", 0) for r in results if r.get("soft_targets")}
    return ["", "Soft training targets (`curate apply --soften`): " + ", ".join(
        f"{v} {n} train images" for v, n in soft.items()) + "; the others learn the bare "
        "class."] if soft else []


def _markdown(results: list[dict], summary: dict, seconds: float, images: dict[str, str]) -> str:
    lines = ["# Comparison report", "", "## Summary", "",
             f"{len(results)} runs, {_train_minutes(results):.1f} min of training in all (this "
             f"invocation: {seconds / 60:.1f} min; finished runs are reused); test set shared by "
             f"all variants ({results[0]['test']['n']} images).", *_soft_line(results), ""]
    lines += _mean_std_section(summary) + _unleaked_section(results, summary)
    lines += _verdict_section(summary)
    for title, key in (("Per-class F1", "f1"), ("Confusion matrices", "confusion"),
                       ("Learning curves", "curves")):
        lines += ["", f"## {title}", "", f"![{title}]({images[key]})"]
    return "\n".join(lines + _cost_section(results)) + "\n"


def _mean_std_section(summary: dict) -> list[str]:
    lines = ["## Mean ± std over seeds", "",
             "| backbone | variant | seeds | accuracy % | macro-F1 % | ECE % |",
             "|---|---|---|---|---|---|"]
    for row in summary["table"]:
        lines.append(f"| {row['backbone']} | {row['variant']} | {row['seeds']} | "
                     f"{_fmt(row['accuracy'])} | {_fmt(row['macro_f1'])} | {_fmt(row['ece'])} |")
    return lines


def _unleaked_section(results: list[dict], summary: dict) -> list[str]:
    lines = ["", "## Test without train copies", ""]
    copies = summary.get("test_with_train_copy")
    rows = [r for r in summary["table"] if "macro_f1_without_train_copies" in r]
    if copies is None or not rows:
        return [*lines, "Not available: these runs did not save their test predictions."]
    lines += [f"{copies} test images are pixel-identical to a train or val image (in any "
              "variant) and can be scored by memory; the scores on the other "
              f"{results[0]['test']['n'] - copies}:", "",
              "| backbone | variant | accuracy % | macro-F1 % |", "|---|---|---|---|"]
    return lines + [f"| {r['backbone']} | {r['variant']} | "
                    f"{_fmt(r['accuracy_without_train_copies'])} | "
                    f"{_fmt(r['macro_f1_without_train_copies'])} |" for r in rows]


def _verdict_section(summary: dict) -> list[str]:
    lines = ["", "## Differences vs seed noise", "",
             "| backbone | metric | variant − baseline (pts) | 2 SE (pts) | beyond noise |",
             "|---|---|---|---|---|"]
    for v in summary["verdicts"]:
        se = "n/a (1 seed)" if v["se"] is None else f"{200 * v['se']:.1f}"
        sig = "n/a" if v["significant"] is None else ("yes" if v["significant"] else "no")
        lines.append(f"| {v['backbone']} | {v['metric']} | {v['variant']} − {v['baseline']}: "
                     f"{100 * v['diff']:+.1f} | {se} | {sig} |")
    return lines


def _cost_section(results: list[dict]) -> list[str]:
    lines = ["", "## Cost", "", "| run | train s | images/s | params | inference ms/image |",
             "|---|---|---|---|---|"]
    for r in results:
        c = r["cost"]
        lines.append(f"| {r['variant']} {r['backbone']} s{r['seed']} | {c['train_seconds']} | "
                     f"{c['images_per_s']} | {c['params']:,} | {c['inference_ms_per_image']} |")
    return lines


def _html(markdown: str, embedded: dict[str, str]) -> str:
    """A plain HTML rendering of the Markdown (headings, tables, embedded images)."""
    out, in_table = [], False
    for line in markdown.splitlines():
        if line.startswith("|") and "---" not in line:
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if not in_table:
                out.append("<table border=1 cellspacing=0 cellpadding=3>")
                in_table = True
            out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table and not line.startswith("|"):
            out.append("</table>")
            in_table = False
        if line.startswith("## "):
            out.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            out.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("!["):
            name = line[line.index("(") + 1:-1]
            out.append(f'<img src="data:image/png;base64,{embedded[name]}">')
        elif line:
            out.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        out.append("</table>")
    return "<!doctype html><meta charset=utf-8><title>Comparison</title>\n" + "\n".join(out)


@dataclass(frozen=True, kw_only=True)
class ReportPaths:
    markdown: str
    html: str


def write_report(out: Path, results: list[dict], summary: dict[str, Any], seconds: float, *,
                 fingerprint: str | None = None) -> ReportPaths:
    """Write report.md, report.html, the plots and results.json under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    names = {"f1": "per_class_f1.png", "confusion": "confusion.png", "curves": "curves.png"}
    embedded = {names["f1"]: plot_f1(results, out / names["f1"]),
                names["confusion"]: plot_confusions(results, out / names["confusion"]),
                names["curves"]: plot_curves(results, out / names["curves"])}
    md = _markdown(results, summary, seconds, names)
    write_text_atomic(md, out / REPORT_MD)
    write_text_atomic(_html(md, embedded), out / REPORT_HTML)
    write_json_atomic({"summary": summary, "results": results, "fingerprint": fingerprint},
                      out / RESULTS)
    return ReportPaths(markdown=str(out / REPORT_MD), html=str(out / REPORT_HTML))
