"""The label check's summary statistics (its `IssueTable.stats`): flag counts per class, the
estimated precision and errors, the test split's audit, the near-duplicate sets, and, where FER+
votes exist, the flags measured against the crowd (`curate.clean.crowd`).

Arrays in, a flat dict out: `label_scores.score_rows` calls these on its verdict.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from curate.clean import crowd, signals
from curate.core import schema
from curate.core.issues import Stat
from curate.core.taxonomy import CLASSES

if TYPE_CHECKING:
    from curate.clean.features import FeatureScores
    from curate.clean.label_scores import LabelArrays, Verdict


def ferplus_agreement(given: np.ndarray, suggested: np.ndarray, votes: np.ndarray,
                      issue: np.ndarray) -> dict[str, Stat]:
    """How often the given / suggested labels match the FER+ strict majority (where it is one
    of the classes), and the flags' precision against the FER+ plurality (`crowd.measured`);
    empty without any voted row."""
    voted = votes.sum(1) > 0
    if not voted.any():
        return {}
    fp = crowd.majority(votes)
    has = fp >= 0
    wrong = crowd.plurality_wrong(given[voted], votes[voted])
    flagged = has & issue
    out: dict[str, Stat] = {
        "voted": int(voted.sum()), "with_majority": int(has.sum()),
        "given_agrees": float((given[has] == fp[has]).mean()) if has.any() else None,
        "suggested_agrees": float((suggested[has] == fp[has]).mean()) if has.any() else None,
        "flagged_suggested_agrees": float((suggested[flagged] == fp[flagged]).mean())
        if flagged.any() else None}
    m = crowd.measured(issue[voted], wrong)
    out.update({"measured_" + k: v for k, v in m.items()})
    out["measured_precision_per_class"] = {
        c: crowd.measured(issue[voted] & (given[voted] == k), wrong)["precision"]
        for k, c in enumerate(CLASSES)}
    return out


def per_class(labels: np.ndarray, mask: np.ndarray) -> dict[str, int]:
    """How many rows of `mask` each class has."""
    counts = np.bincount(labels[mask], minlength=len(CLASSES))
    return {c: int(n) for c, n in zip(CLASSES, counts, strict=False)}


def near_duplicate_stats(set_id: np.ndarray, split: np.ndarray) -> dict[str, Stat]:
    """The near-duplicate sets, their rows, and the sets that span more than one split."""
    member = set_id >= 0
    splits_of: dict[int, set] = {}
    for s, sp in zip(set_id[member].tolist(), split[member].tolist(), strict=True):
        splits_of.setdefault(s, set()).add(sp)
    return {"near_duplicate_sets": len(splits_of), "near_duplicate_rows": int(member.sum()),
            "near_duplicate_cross_split_sets": sum(len(v) > 1 for v in splits_of.values())}


def _test_stats(rows: LabelArrays, v: Verdict, feat: FeatureScores,
                test: np.ndarray) -> dict[str, Stat]:
    if not test.any():
        return {}
    return {"test_audited": int(test.sum()), "test_would_flag": int(v.is_issue[test].sum()),
            "test_would_flag_outliers": int(feat.is_outlier[test].sum()),
            "test_would_flag_near_duplicates": int(feat.is_near_duplicate[test].sum()),
            "test_accuracy": float((v.sig.model[test].argmax(1) == rows.labels[test]).mean()),
            "test_mean_quality": float(v.quality[test].mean())}


def check_stats(rows: LabelArrays, checked: np.ndarray, v: Verdict, feat: FeatureScores,
                audit: crowd.CrowdAudit) -> dict[str, Stat]:
    """The flags and estimates on the checked (train/val) rows, the test audit, the FER+
    agreement and the crowd audit's counts."""
    given = rows.labels
    est = signals.estimated_precision(v.p_wrong[checked], v.is_issue[checked], given[checked],
                                      CLASSES)
    out: dict[str, Stat] = {
        "checked": int(checked.sum()), "flagged": int((v.is_issue & checked).sum()),
        "flagged_per_class": per_class(given, v.is_issue & checked),
        "estimated_precision": est["all"]["estimated_precision"],
        "estimated_precision_per_class": {c: est[c]["estimated_precision"] for c in CLASSES},
        "estimated_errors": int(round(float(v.p_wrong[checked].sum()))),
        "estimated_errors_per_class": {c: int(round(float(est[c]["estimated_errors"] or 0)))
                                       for c in CLASSES},
        "knn_weight": v.sig.weight,
        "calibration": (f"crowd ({v.sig.crowd_rows} voted rows, cross-fitted)"
                        if v.sig.crowd_rows else "confident joint (crowd-free)"),
        "outliers": int((feat.is_outlier & checked).sum()),
        "outliers_per_class": per_class(given, feat.is_outlier & checked),
        "near_duplicates": int((feat.is_near_duplicate & checked).sum()),
    }
    out.update(_test_stats(rows, v, feat, ~checked))
    agreement = ferplus_agreement(given[checked], v.suggested[checked], rows.votes[checked],
                                  v.is_issue[checked])
    out.update({f"ferplus_{k}": val for k, val in agreement.items()})
    if audit.stats.get("voted"):
        out.update({k if k.startswith("crowd_") else f"crowd_{k}": val
                    for k, val in audit.stats.items()})
    return out


def role_stats(role: np.ndarray, checked: np.ndarray, v: Verdict,
               rows: LabelArrays) -> dict[str, Stat]:
    """How many voted rows calibrated the audit and how many only judge; on the judging
    checked rows, the flags' precision measured against their votes (the figure no
    calibration saw)."""
    if not (role != "").any():
        return {}
    judge = checked & (role == schema.JUDGE)
    out: dict[str, Stat] = {"crowd_calibrating_rows": int((role == schema.CALIBRATE).sum()),
                            "crowd_judging_rows": int(judge.sum())}
    cal = v.sig.calibration
    if cal is not None:
        out["calibration_faces"] = cal.faces
        out["calibration_penalty"] = cal.lam
        out["calibration_curve"] = {str(n): acc for n, acc, _ in cal.curve}
        out["calibration_curve_free"] = {str(n): free for n, _, free in cal.curve}
    if judge.any():
        wrong = crowd.plurality_wrong(rows.labels[judge], rows.votes[judge])
        m = crowd.measured(v.is_issue[judge], wrong)
        out.update({f"judges_measured_{k}": val for k, val in m.items()})
    return out
