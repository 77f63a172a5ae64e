"""The label policies of `curate apply`: the label a sample gets without a review relabel
(`--labels crowd`, `--auto`'s relabels) and its soft label (`--soften`, `--soft-from`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from curate.apply.auto import AUTO, auto_relabel
from curate.apply.config import ApplyConfig
from curate.core import schema, store
from curate.core.taxonomy import CLASS_INDEX, CLASS_VOTE_COLUMNS, CLASSES, TEST
from curate.core.views import raw_label

if TYPE_CHECKING:
    from curate.apply.decisions import Target

CROWD = schema.CROWD_REASON  # the prefix of the label reason of --labels crowd


def judge(r: dict[str, Any]) -> bool:
    """Whether a row's votes only judge (`schema.CROWD_ROLE`): the crowd policies skip it."""
    return r.get("role") == schema.JUDGE


def vote_shares(r: dict[str, Any]) -> Any:
    """The class counts of a row's emotion votes that --soft-from votes may read (None: no
    emotion votes, or a judge's)."""
    if r.get("votes") is None or judge(r):
        return None
    shares = np.asarray(r["votes"], dtype=np.float64)[list(CLASS_VOTE_COLUMNS)]
    return shares if shares.sum() > 0 else None


def policy_label(r: dict[str, Any], cfg: ApplyConfig,
                 relabel: bool = True) -> tuple[str | None, str | None]:
    """(label, reason) the label policies give a sample without a review relabel (`relabel`
    False: --auto relabels nothing, its model being too weak)."""
    base = raw_label(r.get("source") or "", r.get("orig"), fallback=r["label"])
    current, why = r["label"], r.get("label_reason")
    if r["split"] == TEST and not cfg.include_test:
        return current, why
    if cfg.labels == "crowd" and r.get("crowd") in CLASS_INDEX and not judge(r):
        agreement = r.get("crowd_agreement")
        share = f" ({agreement:.0%} of the votes)" if agreement is not None else ""
        return r["crowd"], f"{CROWD} consensus{share}"
    if cfg.auto and relabel:
        auto = auto_relabel(base, r.get("posterior"))
        if auto:
            return auto
    policy_made = (why or "").startswith(AUTO) and cfg.auto or (
        (why or "").startswith(CROWD) and cfg.labels != "crowd")
    return (base, None) if policy_made else (current, why)


def soft_target(label: str, probs: Any, weight: float) -> list[float] | None:
    """(1 - weight) * one-hot(label) + weight * probs (normalised), to 6 places; None when the
    label is not a class or the probabilities are missing."""
    if label not in CLASS_INDEX or probs is None:
        return None
    p = np.asarray(probs, dtype=np.float64)
    if p.shape != (len(CLASSES),) or not np.isfinite(p).all() or p.sum() <= 0:
        return None
    out = weight * p / p.sum()
    out[CLASS_INDEX[label]] += 1.0 - weight
    return [round(float(v), 6) for v in out]


def _distribution(r: dict[str, Any], soft_from: str) -> Any:
    """What --soften mixes into a sample's label (None: nothing to mix)."""
    shares = vote_shares(r) if soft_from == "votes" else None
    if shares is not None:
        return shares
    return r.get("posterior") if r.get("posterior") is not None else r.get("oof")


def soft_changes(rows: list[dict[str, Any]], targets: dict[str, Target], weight: float,
                 soft_from: str) -> dict[str, list | None]:
    """Per sample id whose soft label must change: the new value (None: remove it)."""
    out: dict[str, list | None] = {}
    for r in rows:
        new = (soft_target(targets[r["id"]].label or "", _distribution(r, soft_from), weight)
               if weight and r["split"] != TEST else None)
        before = r.get("soft")
        if new != (list(before) if before is not None else None):
            out[r["id"]] = new
    return out


def mark_used_votes(ds: Any, rows: list[dict[str, Any]], wanted: dict[str, Target],
                    cfg: ApplyConfig) -> dict[str, int]:
    """`crowd_role` = "calibrate" on the rows whose votes made their label (`--labels crowd`)
    or soft label (`--soft-from votes`); returns the counts for the summary: the judges the
    crowd policies left alone, the rows marked."""
    soft_votes = bool(cfg.soften) and cfg.soft_from == "votes"
    if cfg.labels != "crowd" and not soft_votes:
        return {}
    used, kept = [], 0
    for r in rows:
        has_votes = r.get("crowd") in CLASS_INDEX or r.get("votes") is not None
        if judge(r):
            kept += has_votes and r["split"] != TEST
            continue
        by_crowd = (wanted[r["id"]].label_reason or "").startswith(CROWD)
        by_votes = soft_votes and r["split"] != TEST and vote_shares(r) is not None
        if (by_crowd or by_votes) and r.get("role") != schema.CALIBRATE:
            used.append(r["id"])
    counts = {"crowd_judges_kept": kept} if kept else {}
    if used:
        if schema.CROWD_ROLE not in ds.get_field_schema():
            ds.add_sample_field(schema.CROWD_ROLE, store.fo().StringField)
        ds.set_values(schema.CROWD_ROLE, dict.fromkeys(used, schema.CALIBRATE), key_field="id")
        counts["crowd_role:calibrate"] = len(used)
    return counts
