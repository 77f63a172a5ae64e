"""The crowd, where FER+ votes exist: a crowd-aware audit (given x crowd x model) and the
measured truth of the label flags.

- `audit`: cleanlab's multi-annotator label quality and consensus (CROWDLAB,
  `cleanlab.multiannotator.get_label_quality_multiannotator`) from each voted row's emotion
  votes (one pseudo-annotator per vote; contempt / unknown / not-a-face votes are not one of
  the 7 classes and are left out) and the out-of-fold probabilities: `crowd_label` (the
  consensus), `crowd_agreement` (its share of the emotion votes) and `crowd_label_quality`
  (CROWDLAB's confidence that the consensus is right), and the three-way disagreements
  (`DISAGREEMENTS`).
- `crowd_roles`: which voted rows calibrate the audit and which only judge it (`judges`:
  `--crowd-holdout`).
- The vote arithmetic (`plurality_wrong`: FER+'s own reading of a flag; `vote_shares`, the soft
  target of `apply --soft-from votes`; majorities) is `curate.core.votes`, shared with `train`.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from curate.clean import calibration
from curate.core import schema
from curate.core.issues import Stat
from curate.core.votes import (  # noqa: F401 - the crowd's vote arithmetic, used as crowd.*
    CLASS_COLUMN,
    crowd_class,
    emotion_votes,
    majority,
    plurality_wrong,
    vote_shares,
)

if TYPE_CHECKING:
    from curate.clean.config import LabelsConfig
    from curate.clean.label_scores import LabelArrays

# the three-way disagreements: issue kind -> what it means
DISAGREEMENTS = {
    "crowd_given": "the given label is not the crowd's consensus",
    "crowd_model": "the model's suggestion is not the crowd's consensus",
    "crowd_split": "given and model disagree and no class has a strict majority of the votes",
}


@dataclass(frozen=True)
class CrowdAudit:
    """Per voted row: the consensus class (-1: no emotion votes), its agreement and CROWDLAB
    quality, and a mask per disagreement kind."""

    label: np.ndarray
    agreement: np.ndarray
    quality: np.ndarray
    flags: dict[str, np.ndarray]
    stats: dict[str, Stat]


def _annotator_matrix(counts: np.ndarray) -> np.ndarray:
    """(N, max votes) with one pseudo-annotator per vote (NaN where a row has fewer votes)."""
    width = int(counts.sum(1).max()) if len(counts) else 0
    out = np.full((len(counts), max(width, 1)), np.nan)
    for i, row in enumerate(counts):
        labels = np.repeat(np.arange(len(row)), row)
        out[i, : len(labels)] = labels
    return out


def audit(given: np.ndarray, suggested: np.ndarray, probs: np.ndarray,
          votes: np.ndarray) -> CrowdAudit:
    """CROWDLAB consensus and quality of the voted rows, and their three-way disagreements."""
    from cleanlab.multiannotator import get_label_quality_multiannotator

    counts = emotion_votes(votes)
    has = counts.sum(1) > 0
    n = len(given)
    label, agreement, quality = np.full(n, -1), np.zeros(n), np.zeros(n)
    if has.sum() >= 2:
        p = np.asarray(probs, dtype=np.float64)[has]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = get_label_quality_multiannotator(
                _annotator_matrix(counts[has]), p / p.sum(1, keepdims=True),
                return_detailed_quality=False, return_annotator_stats=False, verbose=False)
        q = out["label_quality"]
        label[has] = q["consensus_label"].to_numpy()
        agreement[has] = q["annotator_agreement"].to_numpy()
        quality[has] = q["consensus_quality_score"].to_numpy()
    split = majority(votes) < 0
    flags = {"crowd_given": has & (given != label), "crowd_model": has & (suggested != label),
             "crowd_split": has & (given != suggested) & split}
    stats: dict[str, Stat] = {"voted": int(has.sum()),
                              "voted_without_emotion_votes": int((votes.sum(1) > 0).sum()
                                                                 - has.sum()),
                              **{k: int(v.sum()) for k, v in flags.items()}}
    if has.any():
        stats["given_agrees_with_crowd"] = float((given[has] == label[has]).mean())
        stats["suggested_agrees_with_crowd"] = float((suggested[has] == label[has]).mean())
    return CrowdAudit(label, agreement, quality, flags, stats)


def measured(flag: np.ndarray, wrong: np.ndarray) -> dict[str, int | float | None]:
    """Precision and recall of a flag set against the crowd's truth (`plurality_wrong`)."""
    tp = int((flag & wrong).sum())
    return {"flags": int(flag.sum()), "errors": int(wrong.sum()),
            "precision": tp / int(flag.sum()) if flag.any() else None,
            "recall": tp / int(wrong.sum()) if wrong.any() else None}


def judges(source_ids: list[str], share: float, seed: int) -> np.ndarray:
    """The rows held out of the crowd calibration (`--crowd-holdout`): a stable `share` of them,
    by a seeded hash of each source_id, so a re-run (or another machine) holds out the same."""
    if share <= 0:
        return np.zeros(len(source_ids), bool)
    draw = [int.from_bytes(hashlib.sha256(f"{seed}:{s}".encode()).digest()[:8], "big") / 2**64
            for s in source_ids]
    return np.array(draw) < share


def crowd_roles(data: LabelArrays, checked: np.ndarray, cfg: LabelsConfig) -> np.ndarray:
    """Each row's crowd role (`schema.CROWD_ROLES`; "" = no votes, or votes nothing used yet):
    "judge" for the voted test rows and the checked ones `--crowd-holdout` holds out,
    "calibrate" for the other checked voted rows when they calibrate the audit (crowd
    calibration on and enough of them: `calibration.MIN_ANSWERS`); a face `curate annotate`
    drew to judge (`schema.ASK_ROLE`) only judges."""
    voted = crowd_class(data.votes) >= 0
    is_checked = np.zeros(len(voted), bool)
    is_checked[checked] = True
    held = judges(data.source_ids, cfg.crowd_holdout, cfg.seed)
    if data.asked is not None:
        held |= data.asked == schema.JUDGE
    role = np.full(len(voted), "", dtype=object)
    role[voted & (~is_checked | held)] = schema.JUDGE
    calibrate = voted & is_checked & ~held
    if cfg.crowd_calibration and calibrate.sum() >= calibration.MIN_ANSWERS:
        role[calibrate] = schema.CALIBRATE
    return role
