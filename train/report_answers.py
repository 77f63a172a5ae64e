"""The first section of the comparison and pipeline reports: what people's answers say.

Which answers judge the runs (faces, answers, from whom), that none of them shaped the curation,
curated vs raw (and the robust baselines) on them, then the score on the source's own test
labels and why its sign can differ. Pure: everything comes from the comparison's summary
(`train.compare.summarise` per scored split, with `describe_truth`'s counts).
"""

from __future__ import annotations

from typing import Any

HEADING = "## What people's answers say"
CROWD_METRICS = ("crowd agreement", "crowd majority accuracy")
ORIGINAL = "original accuracy"
NO_ANSWERS = ("No answers judge these runs: no scored face carries a person's answer that the "
              "curation did not use{calibrating}. Get some with `curate annotate --budget 400` "
              "(its random share only judges) or `curate votes import FILE`, then compare again.")
WHY_SIGN = ("The original labels can point the other way because they are what the curation "
            "corrected: a model trained on corrected targets agrees less with the uncorrected "
            "labels it is scored against, while people's answers measure what the labels should "
            "be.")
VIA_NOTES = {"ferplus": "FER+'s anonymous crowd"}


def noise_text(v: dict[str, Any]) -> str:
    """A verdict's standard error and whether the difference is beyond seed noise."""
    if v["significant"] is None:
        return "1 seed"
    return f"2 SE {200 * v['se']:.1f}, " + ("beyond noise" if v["significant"] else "noise")


def answers_section(summary: dict[str, Any]) -> list[str]:
    """The section's lines (heading first): per split whose answers judge, who gave them and
    the crowd scores; then the original-label score on test. One line when no answers judge."""
    blocks = summary.get("splits") or []
    judged = [b for b in blocks if b["truth"].get("voted") and _has_crowd(b)]
    if not judged:
        calibrating = sum(b["truth"].get("calibrating") or 0 for b in blocks)
        note = (f" ({calibrating:,} faces' answers calibrated the label audit, so cannot judge)"
                if calibrating else "")
        return [HEADING, "", NO_ANSWERS.format(calibrating=note)]
    lines = [HEADING]
    for b in judged:
        if len(judged) > 1:
            lines += ["", f"### {b['truth']['split']}"]
        lines += ["", who_line(b["truth"]), "", *_crowd_table(b), "", *_diff_lines(b)]
    return lines + _original_lines(blocks)


def _has_crowd(block: dict[str, Any]) -> bool:
    rows = block.get("table") or []
    return bool(rows) and CROWD_METRICS[0] in rows[0]["scores"]


def who_line(truth: dict[str, Any]) -> str:
    """How many faces and answers judge, from whom, and why none of them shaped the curation."""
    split = truth["split"]
    where = f"the {split} split" + (" (which also picks each run's best epoch)"
                                     if split != "test" else "")
    head = f"**{truth['voted']:,} faces' answers judge**, on {where}, shared by every variant"
    ans = truth.get("answers")
    if not ans:
        head += "; who gave them is not recorded in this comparison's results"
    else:
        head += f": {ans['answers']:,} answers" + _via_text(ans)
    calibrating = truth.get("calibrating") or 0
    kept_out = (f"the {calibrating:,} faces whose answers calibrated the label audit, "
                "`crowd_role` = calibrate, are left out" if calibrating
                else "no face whose answers calibrated the label audit is among them")
    return (f"{head}. None of them was used to curate: they are judge rows by construction "
            f"({kept_out}).")


def _via_text(ans: dict[str, Any]) -> str:
    via = ans.get("via") or {}
    if not via:
        return (" (where they came from is not recorded: an export's manifest, or votes from "
                "before the answers store, keep the counts only)")
    parts = [f"{name} {n:,}" + (f" ({VIA_NOTES[name]})" if name in VIA_NOTES else "")
             for name, n in via.items()]
    people = ans.get("annotators") or 0
    named = f"; {people:,} named annotator{'s' * (people != 1)}" if people else ""
    return ", by origin " + ", ".join(parts) + named


def _pct(pair: Any) -> str:
    return f"{100 * pair[0]:.1f} ± {100 * pair[1]:.1f}"


def _crowd_table(block: dict[str, Any]) -> list[str]:
    """Mean ± std over seeds of the crowd scores, per (backbone, variant)."""
    rows = block["table"]
    metrics = [m for m in CROWD_METRICS if m in rows[0]["scores"]]
    lines = ["| backbone | variant | seeds | " + " | ".join(f"{m} %" for m in metrics) + " |",
             "|---|---|---:|" + "---:|" * len(metrics)]
    return lines + [f"| {r['backbone']} | {r['variant']} | {r['seeds']} | "
                    + " | ".join(_pct(r["scores"][m]) for m in metrics) + " |" for r in rows]


def _diff_lines(block: dict[str, Any], metrics: tuple[str, ...] = CROWD_METRICS) -> list[str]:
    """One line per comparison (vs the first variant, and vs the best robust baseline): the
    difference of means on each metric (whole split) with 2 SE."""
    pairs: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for v in block["verdicts"]:
        if v["metric"] in metrics:
            key = (v["backbone"], v["variant"], v["baseline"], v.get("against") or "")
            pairs.setdefault(key, []).append(v)
    lines = []
    for (bb, variant, base, against), vs in pairs.items():
        best = ", the best robust baseline" if against == "best robust" else ""
        lines.append(f"- **{variant} − {base}** ({bb}{best}): " + "; ".join(
            f"{v['metric']} {100 * v['diff']:+.1f} ({noise_text(v)})" for v in vs) + ".")
    return lines


def _original_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """The plain variants vs the first on the test split's original labels, and why that
    sign can differ from the answers'."""
    test = next((b for b in blocks if b["truth"]["split"] == "test"), None)
    if test is None:
        return []
    vs = [v for v in test["verdicts"] if v["metric"] == ORIGINAL
          and v.get("against", "baseline") == "baseline" and "+" not in v["variant"]]
    if not vs:
        return []
    several = len({v["backbone"] for v in vs}) > 1
    parts = [f"{v['variant']} − {v['baseline']} {100 * v['diff']:+.1f} ({noise_text(v)}"
             + (f", {v['backbone']})" if several else ")") for v in vs]
    return ["", f"On the source's own test labels (original accuracy, {test['truth']['n']:,} "
            f"faces): " + "; ".join(parts) + ". " + WHY_SIGN]
