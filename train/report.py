"""The comparison report: Markdown + HTML, opening with what people's answers say
(train/report_answers.py), with matplotlib plots (per-class F1 bars, confusion
matrices side by side, learning curves), what moved and against which labels, mean ± std of
every score (train/scoring.py: the original labels, the crowd's majority and agreement, each
whole and without train copies; external tests), the seed-noise verdicts and the cost.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.htmlpage import to_html
from curate.core.taxonomy import CLASSES
from curate.core.workspace import atomic_path, write_json_atomic, write_text_atomic
from train.report_answers import HEADING, answers_section, noise_text

RESULTS, REPORT_MD, REPORT_HTML = "results.json", "report.md", "report.html"
SECTIONS = (HEADING.removeprefix("## "), "Summary", "Mean ± std over seeds", "Without train copies",
            "Differences vs seed noise", "Per-class F1", "Confusion matrices", "Learning curves",
            "Cost")
WITHOUT = " (without train copies)"  # the suffix of a metric scored without them (compare)


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
    blocks = summary["splits"]
    lines = ["# Comparison report", "", *answers_section(summary), "", "## Summary", "",
             f"{len(results)} runs, {_train_minutes(results):.1f} min of training in all (this "
             f"invocation: {seconds / 60:.1f} min; finished runs are reused).", *_soft_line(results)]
    for b in blocks:
        lines += [*_heading(b, blocks), *_truth_lines(b), "", *moved_lines(b)]
    lines += ["", "## Mean ± std over seeds"]
    for b in blocks:
        lines += _heading(b, blocks) + _scores_table(  # ECE: of the test predictions
            b, lambda m: WITHOUT not in m, ece=b["truth"]["split"] == "test")
    lines += ["", "## Without train copies"]
    for b in blocks:
        lines += _heading(b, blocks) + _copies_line(b) + _scores_table(b, lambda m: WITHOUT in m)
    lines += _verdict_section(blocks)
    for title, key in (("Per-class F1", "f1"), ("Confusion matrices", "confusion"),
                       ("Learning curves", "curves")):
        lines += ["", f"## {title}", "", "Test split, the variants' own test labels.", "",
                  f"![{title}]({images[key]})"]
    return "\n".join(lines + _cost_section(results, summary)) + "\n"


def _heading(block: dict, blocks: list[dict]) -> list[str]:
    """A sub-heading per scored split when there are several."""
    split = block["truth"]["split"]
    return ["", f"### {split}" + (" (dev figure)" if split != "test" else "")] \
        if len(blocks) > 1 else []


def _truth_lines(block: dict) -> list[str]:
    t = block["truth"]
    split = t["split"]
    lines = ["", f"Scored on the **{split}** split: {t['n']} samples shared by every variant, "
             "with the baseline's (original) labels."]
    if split != "test":
        lines.append(f"**A dev figure, not the test claim**: {split} selects each run's best "
                     "epoch, and its crowd votes are the ones the tool is developed against.")
    if t["voted"]:
        lines.append(f"{t['voted']} carry FER+ crowd votes: {t['majority']} have a strict "
                     f"majority among the 7 emotions (the crowd-majority labels), {t['left_out']} "
                     "have none and are left out of the majority scores (crowd agreement uses "
                     "every voted sample).")
    else:
        lines.append("No sample carries crowd votes (`curate ingest ferplus`): scored against "
                     "the original labels only.")
    if t.get("calibrating"):
        lines.append(f"{t['calibrating']} more samples' votes calibrated the label audit "
                     "(`crowd_role` = calibrate), so shaped the curated labels: they never "
                     "score a run.")
    return lines


def moved_lines(summary: dict) -> list[str]:
    """One line per comparison (also the pipeline report's): the difference on each metric
    (whole split) and its verdict."""
    lines = []
    pairs: dict[tuple[str, str, str], list[dict]] = {}
    for v in summary["verdicts"]:
        if WITHOUT not in v["metric"]:
            pairs.setdefault((v["backbone"], v["variant"], v["baseline"]), []).append(v)
    split = summary["truth"]["split"]
    for (bb, variant, base), vs in pairs.items():
        parts = [f"{v['metric']} {100 * v['diff']:+.1f} ({noise_text(v)})" for v in vs]
        beyond = [v["metric"] for v in vs if v["significant"] and v["diff"] > 0]
        worse = [v["metric"] for v in vs if v["significant"] and v["diff"] < 0]
        if all(v["significant"] is None for v in vs):
            verdict = "one seed a side: no noise verdict"
        elif beyond:
            verdict = f"beats {base} beyond noise on {', '.join(beyond)}"
        else:
            verdict = f"does not beat {base} beyond noise on any label set"
        if worse:
            verdict += f"; worse beyond noise on {', '.join(worse)}"
        lines.append(f"- **{variant} vs {base}** ({bb}, {split}): {verdict}. "
                     + "; ".join(parts) + ".")
    return lines


def _copies_line(block: dict) -> list[str]:
    t = block["truth"]
    return ["", f"{t['with_train_copy']} {t['split']} images are pixel-identical to an image of a "
            "split the models learnt from (in any variant) and can be scored by memory; the "
            f"scores on the other {t['n'] - t['with_train_copy']}:"]


def _scores_table(block: dict, keep, ece: bool = False) -> list[str]:  # noqa: ANN001
    rows = block["table"]
    metrics = [m for m in (rows[0]["scores"] if rows else {}) if keep(m)]
    if not metrics:
        return ["", "Not available: these runs did not save their predictions."]
    heads = [m.replace(WITHOUT, "") + " %" for m in metrics] + (["ECE %"] if ece else [])
    lines = ["", "| backbone | variant | seeds | " + " | ".join(heads) + " |",
             "|---|---|---|" + "---|" * len(heads)]
    for row in rows:
        cells = [_fmt(row["scores"][m]) for m in metrics] + ([_fmt(row["ece"])] if ece else [])
        lines.append(f"| {row['backbone']} | {row['variant']} | {row['seeds']} | "
                     + " | ".join(cells) + " |")
    return lines


def _verdict_section(blocks: list[dict]) -> list[str]:
    lines = ["", "## Differences vs seed noise", "",
             "Difference of means over seeds, against the first variant and (for the plain "
             "variants) against the best robust-training baseline on that metric.", "",
             "| split | backbone | metric | variant − baseline (pts) | 2 SE (pts) | beyond noise |",
             "|---|---|---|---|---|---|"]
    for v in (dict(v, split=b["truth"]["split"]) for b in blocks for v in b["verdicts"]):
        se = "n/a (1 seed)" if v["se"] is None else f"{200 * v['se']:.1f}"
        sig = "n/a" if v["significant"] is None else ("yes" if v["significant"] else "no")
        best = " (best robust)" if v.get("against") == "best robust" else ""
        lines.append(f"| {v['split']} | {v['backbone']} | {v['metric']} | "
                     f"{v['variant']} − {v['baseline']}"
                     f"{best}: {100 * v['diff']:+.1f} | {se} | {sig} |")
    return lines


def _cost_section(results: list[dict], summary: dict) -> list[str]:
    rows = summary["splits"][0]["table"]
    lines = ["", "## Cost", "", "Mean training seconds per run; speed vs the first variant's "
             "plain loop (same backbone, this invocation's machine).", "",
             "| backbone | variant | train s | speed vs " + (rows[0]["variant"] if rows else "")
             + " |", "|---|---|---|---|"]
    for row in rows:
        ref = next(r for r in rows if r["backbone"] == row["backbone"])
        ratio = ref["train_seconds"] / row["train_seconds"] if row["train_seconds"] else 0.0
        lines.append(f"| {row['backbone']} | {row['variant']} | {row['train_seconds']:.0f} | "
                     f"{ratio:.2f}x |")
    lines += ["", "| run | train s | images/s | params | inference ms/image |",
              "|---|---|---|---|---|"]
    for r in results:
        c = r["cost"]
        lines.append(f"| {r['variant']} {r['backbone']} s{r['seed']} | {c['train_seconds']} | "
                     f"{c['images_per_s']} | {c['params']:,} | {c['inference_ms_per_image']} |")
    return lines


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
    write_text_atomic(to_html(md, "Comparison report", embedded), out / REPORT_HTML)
    write_json_atomic({"summary": summary, "results": results, "fingerprint": fingerprint},
                      out / RESULTS)
    return ReportPaths(markdown=str(out / REPORT_MD), html=str(out / REPORT_HTML))
