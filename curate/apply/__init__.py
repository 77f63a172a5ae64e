"""`curate apply`: commit review decisions (tags set in the App) and, optionally, an auto policy.

- `review:drop` -> `excluded=True`, `exclusion_reason="review:drop"`.
- `review:keep` -> `excluded=False` (the flags stay, their effect is cleared; auto never drops it).
- `review:relabel:<class>` -> `ground_truth` set to the class; `orig_label` is never touched.
- `--auto` (samples without a review tag only; test only with `--include-test`):
  exact duplicates spanning splits are dropped from train/val (the test copy is kept; a
  train+val group keeps its train copy: val only selects the model, train is where an image
  teaches), and exact duplicates with conflicting labels are dropped from train/val. Repeats
  within one split stay (tagged `issue:duplicate` for review): they carry no wrong label, and
  dropping them shifts the class priors (FER-2013: -13% of train surprise, whose test F1 fell by
  3 pts). `--auto` also relabels a sample where the label check's posterior
  (`label_posterior`, P(true class | image, label)) makes another class more probable than the
  source's label (not when its out-of-fold accuracy is below the label check's
  WEAK_MODEL_ACCURACY). A re-run of `--auto` recomputes the policy: a sample it excluded or
  relabelled before and no longer would is included again / gets the source's label back.
- `--labels crowd`: where `curate clean` wrote a crowd consensus (`crowd_label`, samples with
  FER+ votes), that is the label; `--labels given` gives the crowd's relabels back.
- Every relabel records why in `label_reason` (`review`, `crowd: ...`, `auto: ...`).
- The crowd policies (`--labels crowd`, `--soft-from votes`) never read the votes of a row whose
  `crowd_role` is "judge" (held out by `curate clean --crowd-holdout`: its votes only judge);
  a row whose votes they use gets `crowd_role` = "calibrate", so `train compare` no longer
  scores on it.
- `--soften A` (0 <= A < 1; needs `curate clean --checks labels`): every train/val sample gets
  `soft_label` = (1 - A) * its label + A * a distribution (`--soft-from`: `model`, the
  posterior, or the out-of-fold probabilities where clean predates it; `votes`, the sample's
  FER+ vote shares where it has votes), the target the trainer learns from instead of the bare
  class. A < 0.5 never overturns a label by itself. Soft labels follow the current label (a
  relabel re-mixes them); augmented copies use their parent's; the test split never gets them;
  `--soften 0` removes them. Without `--soften`, `--labels` or `--soft-from`, the last apply's
  value is kept.
Samples are only ever excluded, never deleted. Who/when/what goes into the run history;
a re-run with the same tags, policy and samples changes nothing and is recorded as a no-op.

Modules: `config` (ApplyConfig), `decisions` (the review tags, each sample's wanted state),
`auto` (the --auto policy), `labels` (the crowd label policy, soft labels), `rows` (what is
read from and written to the dataset), `commands` (`curate apply`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from curate.apply import rows as _rows
from curate.apply.auto import AUTO, auto_drops, auto_relabel_targets
from curate.apply.config import LABEL_POLICIES, SOFT_SOURCES, ApplyConfig
from curate.apply.decisions import REVIEW, Target, check_tags, review_decision, targets
from curate.apply.labels import CROWD, mark_used_votes, soft_changes, soft_target
from curate.core import runs, store
from curate.core.errors import StoreError

__all__ = ["AUTO", "CROWD", "LABEL_POLICIES", "REVIEW", "SOFT_MIN_ACCURACY", "SOFT_SOURCES",
           "ApplyConfig", "ApplyResult", "Target", "apply_reviews", "auto_drops",
           "auto_relabel_targets", "label_check_accuracy", "resolve", "resolve_soften",
           "review_decision", "soft_target", "weak_model"]

log = logging.getLogger(__name__)

# Soft labels distil the out-of-fold models into the trainer: they help only when those models
# are good. FER-2013, resnet10t 4 epochs, --soften 0.5: probabilities of the default clean
# (out-of-fold accuracy 61.1%) raised test macro-F1 by 4.7 pts; those of `clean --fast`
# (52.3%) lowered it by 3.1. Below this accuracy apply warns.
SOFT_MIN_ACCURACY = 0.58
# What a weak label-check model costs each policy that reads it, said when its out-of-fold
# accuracy is below that policy's floor (`weak_model`)
_WEAK_WARNINGS = {
    "soften": ("soft labels come from out-of-fold models of {acc:.1%} accuracy (below "
               "{floor:.0%}): on FER-2013 such labels (clean --fast) cost 3 pts of "
               "macro-F1; run `curate clean` without --fast, or `apply --soften 0`"),
    "auto": ("--auto relabels nothing: the label check's out-of-fold accuracy {acc:.1%} is "
             "below {floor:.0%}, too weak for its suggestions to overrule a "
             "label (run `curate clean` without --fast, or with more epochs)"),
}


@dataclass
class ApplyResult:
    changed: Counter = field(default_factory=Counter)  # action -> samples changed
    skipped_test: int = 0
    noop: bool = False
    warning: str | None = None

    def summary(self) -> str:
        """One line: what changed (the CLI and the App's commit operator print it)."""
        if self.noop:
            return "apply: nothing to change (decisions already applied)"
        return "apply: " + (", ".join(f"{k} {v}" for k, v in self.changed.items()) or "no change")


def _last_config(ds: Any) -> dict[str, Any]:
    return runs.last(ds, runs.APPLY).config


def resolve_soften(ds: Any, cfg: ApplyConfig) -> float:
    """The soft-label weight: the option, else the last apply's, else 0."""
    if cfg.soften is not None:
        return cfg.soften
    return float(_last_config(ds).get("soften") or 0.0)


def resolve(ds: Any, cfg: ApplyConfig) -> ApplyConfig:
    """`cfg` with every sticky option (soften, labels, soft_from) resolved: the option, else
    the last apply's value, else the default."""
    last = _last_config(ds)
    return replace(cfg, soften=resolve_soften(ds, cfg),
                   labels=cfg.labels or last.get("labels") or LABEL_POLICIES[0],
                   soft_from=cfg.soft_from or last.get("soft_from") or SOFT_SOURCES[0])


def label_check_accuracy(ds: Any) -> float | None:
    """The label check's out-of-fold accuracy (its last run), None before any."""
    acc = runs.last(ds, runs.check_stage("labels")).counts.get("oof_accuracy")
    return None if acc is None else float(acc)


def weak_model(ds: Any, use: str) -> str | None:
    """A warning when the label check's out-of-fold models are too weak for a policy (`use`):
    "soften", their soft labels help only above SOFT_MIN_ACCURACY; "auto", --auto relabels
    nothing below the accuracy at which the label check itself warns that its flags cannot be
    trusted (WEAK_MODEL_ACCURACY: a 16%-accurate model on a tiny dataset relabelled a whole
    class away)."""
    floor = SOFT_MIN_ACCURACY
    if use == "auto":
        from curate.clean.config import WEAK_MODEL_ACCURACY

        floor = WEAK_MODEL_ACCURACY
    acc = label_check_accuracy(ds)
    if acc is None or acc >= floor:
        return None
    return _WEAK_WARNINGS[use].format(acc=acc, floor=floor)


def _count_changes(result: ApplyResult, changed_ex: dict[str, Target],
                   changed_lab: dict[str, Target], changed_soft: dict[str, list | None],
                   soften: float) -> None:
    """The summary's counts: exclusions, relabels (by reason) and soft labels changed."""
    for t in changed_ex.values():
        result.changed["excluded" if t.excluded else "included"] += 1
    result.changed["relabelled"] = sum(t.label != t.was_label for t in changed_lab.values())
    for why in (t.label_reason for t in changed_lab.values() if t.label != t.was_label):
        result.changed[f"relabelled:{(why or 'source label').split(':')[0]}"] += 1
    if soften or changed_soft:
        result.changed["soft_labels"] = len(changed_soft)


def apply_reviews(cfg: ApplyConfig) -> ApplyResult:
    """Commit review tags (and the auto, label and soft-label policies) to `excluded` /
    `ground_truth` / `soft_label`; idempotent."""
    ds = store.load_dataset(cfg.dataset)
    if len(ds) == 0:
        raise StoreError(f"dataset {cfg.dataset!r} is empty; run `curate ingest ...` first")
    check_tags(ds)
    t0 = time.perf_counter()
    cfg = resolve(ds, cfg)
    rows = _rows.read_rows(ds, cfg)
    weak = weak_model(ds, "auto") if cfg.auto else None
    wanted, skipped = targets(rows, cfg, relabel=weak is None)
    result = ApplyResult(skipped_test=skipped)
    first = _rows.declare(ds)
    changed_ex = {i: t for i, t in wanted.items() if t.exclusion_changed}
    changed_lab = {i: t for i, t in wanted.items() if t.label_changed}
    soften = cfg.soften or 0.0
    changed_soft = soft_changes(rows, wanted, soften, cfg.soft_from or SOFT_SOURCES[0])
    _count_changes(result, changed_ex, changed_lab, changed_soft, soften)
    warnings = [w for w in (weak, weak_model(ds, "soften") if soften else None) if w]
    result.warning = "; ".join(warnings) or None
    for w in warnings:
        log.warning(w)
    _rows.write(ds, first, changed_ex, changed_lab, changed_soft)
    result.changed.update(mark_used_votes(ds, rows, wanted, cfg))
    result.noop = not changed_ex and not changed_lab and not changed_soft
    _rows.record(ds, cfg, wanted, {**result.changed, "skipped_test": result.skipped_test},
                 result.noop, changed_ex, changed_lab, time.perf_counter() - t0)
    return result
