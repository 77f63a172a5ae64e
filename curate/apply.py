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
"""

from __future__ import annotations

import getpass
import logging
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from curate.core import runs, schema, store
from curate.core.errors import InputError, StoreError
from curate.core.schema import (
    EXACT_GROUP,
    EXCLUDED,
    EXCLUSION_REASON,
    LABEL_PATH,
    LABEL_REASON,
    OOF,
    REVIEW_DROP,
    REVIEW_KEEP,
    REVIEW_PREFIX,
    REVIEW_RELABEL,
    SOFT_LABEL,
    SPLIT,
)
from curate.core.taxonomy import CLASS_INDEX, CLASS_VOTE_COLUMNS, CLASSES
from curate.core.views import audited_label, raw_label

log = logging.getLogger(__name__)

AUTO = schema.AUTO_REASON  # the prefix of every exclusion (and label) reason --auto writes
CROWD = schema.CROWD_REASON  # the prefix of the label reason of --labels crowd
REVIEW = "review"  # the label reason of a review:relabel:<class> decision
# --labels: "given" keeps the labels (review relabels and --auto aside); "crowd" takes the
# crowd's consensus (`crowd_label`, written by `curate clean` where FER+ votes exist)
LABEL_POLICIES = ("given", "crowd")
# --soft-from: what --soften mixes into the label: "model" = the label check's posterior
# P(true class | image, label) (`label_posterior`; the out-of-fold probabilities where clean
# predates it); "votes" = the share of each class in the sample's FER+ votes where it has
# votes, the model's elsewhere
SOFT_SOURCES = ("model", "votes")
PROTECTED = "test"
# Soft labels distil the out-of-fold models into the trainer: they help only when those models
# are good. FER-2013, resnet10t 4 epochs, --soften 0.5: probabilities of the default clean
# (out-of-fold accuracy 61.1%) raised test macro-F1 by 4.7 pts; those of `clean --fast`
# (52.3%) lowered it by 3.1. Below this accuracy apply warns.
SOFT_MIN_ACCURACY = 0.58


@dataclass(frozen=True, kw_only=True)
class ApplyConfig:
    dataset: str = store.DEFAULT_DATASET
    auto: bool = False
    include_test: bool = False
    user: str = ""
    soften: float | None = None  # None: the last apply's value (0 when there was none)
    labels: str | None = None  # LABEL_POLICIES; None: the last apply's (given when none)
    soft_from: str | None = None  # SOFT_SOURCES; None: the last apply's (model when none)

    def __post_init__(self) -> None:
        if self.soften is not None and not 0.0 <= self.soften < 1.0:
            raise InputError(f"--soften {self.soften}: use a weight in [0, 1), e.g. 0.3")
        if self.labels is not None and self.labels not in LABEL_POLICIES:
            raise InputError(f"--labels {self.labels!r}: use one of {', '.join(LABEL_POLICIES)}")
        if self.soft_from is not None and self.soft_from not in SOFT_SOURCES:
            raise InputError(f"--soft-from {self.soft_from!r}: use one of "
                             f"{', '.join(SOFT_SOURCES)}")


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


@dataclass(frozen=True)
class Target:
    """A sample's wanted state (excluded, reason, label) beside its stored one."""

    excluded: bool
    reason: str | None
    label: str | None
    was_excluded: bool
    was_reason: str | None
    was_label: str | None
    label_reason: str | None = None
    was_label_reason: str | None = None

    @property
    def exclusion_changed(self) -> bool:
        return (self.excluded, self.reason) != (self.was_excluded, self.was_reason)

    @property
    def label_changed(self) -> bool:
        return self.label != self.was_label or self.label_reason != self.was_label_reason

    def state(self) -> tuple[bool, str | None, str | None, str | None]:
        """What the fingerprint records: the wanted (excluded, reason, label, label reason)."""
        return self.excluded, self.reason, self.label, self.label_reason


def review_decision(tags: list[str]) -> tuple[str | None, str | None]:
    """(action, class) of a sample's review tags: drop / keep / relabel, or (None, None)."""
    review = [t for t in tags or [] if t.startswith(REVIEW_PREFIX)]
    relabel = [t[len(REVIEW_RELABEL):] for t in review if t.startswith(REVIEW_RELABEL)]
    if REVIEW_DROP in review and REVIEW_KEEP in review:
        return "conflict", None
    if REVIEW_DROP in review:
        return "drop", relabel[0] if relabel else None
    if REVIEW_KEEP in review:
        return "keep", relabel[0] if relabel else None
    return ("relabel", relabel[0]) if relabel else (None, None)


def _check_tags(ds: Any) -> None:
    counts = ds.count_sample_tags()
    bad = {t: n for t, n in counts.items()
           if t.startswith(REVIEW_RELABEL) and t[len(REVIEW_RELABEL):] not in CLASSES}
    if bad:
        listed = ", ".join(f"{t!r} ({n} samples)" for t, n in sorted(bad.items()))
        raise InputError(f"review tag with an unknown class: {listed}; "
                         f"classes: {', '.join(CLASSES)}")
    unknown = {t: n for t, n in counts.items() if t.startswith(REVIEW_PREFIX)
               and t not in (REVIEW_DROP, REVIEW_KEEP) and not t.startswith(REVIEW_RELABEL)}
    if unknown:
        listed = ", ".join(f"{t!r} ({n} samples)" for t, n in sorted(unknown.items()))
        raise InputError(f"unknown review tag {listed}; use {REVIEW_DROP}, {REVIEW_KEEP} or "
                         f"{REVIEW_RELABEL}<class>")


def auto_drops(rows: list[dict[str, Any]], include_test: bool) -> dict[str, str]:
    """The auto policy over exact-duplicate groups: sample id -> exclusion reason."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get(EXACT_GROUP) is not None:
            groups[r[EXACT_GROUP]].append(r)
    out: dict[str, str] = {}
    for members in groups.values():
        # the kept copy: test first (never edited by default), then train, then val
        members.sort(key=lambda r: (r["split"] != "test", r["split"] != "train", r["id"]))
        # the labels the duplicate check judged: a relabel this policy made is its own output
        labels = {audited_label(r.get("source") or "", r.get("orig"), r["label"],
                                r.get("label_reason")) for r in members}
        splits = {r["split"] for r in members}
        for r in members:
            editable = r["split"] != PROTECTED or include_test
            if not editable:
                continue
            if len(labels) > 1:
                out[r["id"]] = f"{AUTO} exact duplicate with conflicting labels"
            elif len(splits) > 1 and r["split"] != members[0]["split"]:
                out[r["id"]] = f"{AUTO} exact duplicate of a {members[0]['split']} sample"
    return out


def auto_relabel_targets(given: np.ndarray, posterior: np.ndarray) -> np.ndarray:
    """The label --auto gives each row: the posterior's most probable class where it is more
    probable than the given label (`curate.clean.signals.posterior`), else the given one."""
    best = posterior.argmax(1)
    rows = np.arange(len(given))
    return np.where(posterior[rows, best] > posterior[rows, given], best, given)


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


def _last_config(ds: Any) -> dict[str, Any]:
    return (runs.last_run(ds, "apply") or {}).get("config") or {}


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


def _oof_accuracy(ds: Any) -> float | None:
    """The label check's out-of-fold accuracy (its last run), None before any."""
    return ((runs.last_run(ds, "oof") or {}).get("counts") or {}).get("oof_accuracy")


def weak_teacher(ds: Any) -> str | None:
    """A warning when the out-of-fold models are too weak for their soft labels to help."""
    acc = _oof_accuracy(ds)
    if acc is None or acc >= SOFT_MIN_ACCURACY:
        return None
    return (f"soft labels come from out-of-fold models of {acc:.1%} accuracy (below "
            f"{SOFT_MIN_ACCURACY:.0%}): on FER-2013 such labels (clean --fast) cost 3 pts of "
            "macro-F1; run `curate clean` without --fast, or `apply --soften 0`")


def weak_relabeller(ds: Any) -> str | None:
    """Why --auto relabels nothing: the label check's model is below the accuracy at which the
    label check itself warns that its flags cannot be trusted (a 16%-accurate model on a tiny
    dataset relabelled a whole class away)."""
    from curate.clean.labels import WEAK_MODEL_ACCURACY

    acc = _oof_accuracy(ds)
    if acc is None or acc >= WEAK_MODEL_ACCURACY:
        return None
    return (f"--auto relabels nothing: the label check's out-of-fold accuracy {acc:.1%} is "
            f"below {WEAK_MODEL_ACCURACY:.0%}, too weak for its suggestions to overrule a "
            "label (run `curate clean` without --fast, or with more epochs)")


def _judge(r: dict[str, Any]) -> bool:
    """Whether a row's votes only judge (`schema.CROWD_ROLE`): the crowd policies skip it."""
    return r.get("role") == schema.JUDGE


def _vote_shares(r: dict[str, Any]) -> Any:
    """The class counts of a row's emotion votes that --soft-from votes may read (None: no
    emotion votes, or a judge's)."""
    if r.get("votes") is None or _judge(r):
        return None
    shares = np.asarray(r["votes"], dtype=np.float64)[list(CLASS_VOTE_COLUMNS)]
    return shares if shares.sum() > 0 else None


def _distribution(r: dict[str, Any], soft_from: str) -> Any:
    """What --soften mixes into a sample's label (None: nothing to mix)."""
    shares = _vote_shares(r) if soft_from == "votes" else None
    if shares is not None:
        return shares
    return r.get("posterior") if r.get("posterior") is not None else r.get("oof")


def _soft_changes(rows: list[dict[str, Any]], targets: dict[str, Target], weight: float,
                  soft_from: str) -> dict[str, list | None]:
    """Per sample id whose soft label must change: the new value (None: remove it)."""
    out: dict[str, list | None] = {}
    for r in rows:
        new = (soft_target(targets[r["id"]].label or "", _distribution(r, soft_from), weight)
               if weight and r["split"] != PROTECTED else None)
        before = r.get("soft")
        if new != (list(before) if before is not None else None):
            out[r["id"]] = new
    return out


def _read_rows(ds: Any, cfg: ApplyConfig) -> list[dict[str, Any]]:
    """Per sample: id, tags, split, label, source label and, where present, excluded, reason,
    exact_group, label reason, and what the label policy and soft labels read."""
    have = ds.get_field_schema()
    if cfg.auto and EXACT_GROUP not in have:
        raise StoreError("--auto needs the duplicate check: run `curate clean --checks "
                         "duplicates` first")
    if cfg.labels == "crowd" and schema.CROWD_LABEL not in have:
        raise StoreError("--labels crowd needs the crowd audit: ingest FER+ votes (`curate "
                         "ingest ferplus fer2013new.csv`), then run `curate clean --checks "
                         "labels`")
    if cfg.soften and OOF not in have:
        raise StoreError("--soften needs out-of-fold probabilities: run `curate clean --checks "
                         "labels` first")
    columns = {"id": "id", "tags": schema.TAGS, "split": SPLIT, "label": LABEL_PATH,
               "source": schema.SOURCE, "orig": schema.ORIG_LABEL}
    # `excluded` may come without a reason (set by hand in FiftyOne); the policies' columns
    # only when a policy reads them (35k x 7 floats each)
    optional = {"excluded": EXCLUDED, "reason": EXCLUSION_REASON, EXACT_GROUP: EXACT_GROUP,
                "label_reason": LABEL_REASON, "soft": SOFT_LABEL}
    if cfg.auto or cfg.soften:
        optional["posterior"] = schema.LABEL_POSTERIOR
    if cfg.labels == "crowd":
        optional |= {"crowd": f"{schema.CROWD_LABEL}.label",
                     "crowd_agreement": schema.CROWD_AGREEMENT}
    if cfg.soften:
        optional["oof"] = OOF
        if cfg.soft_from == "votes":
            optional["votes"] = schema.FERPLUS_VOTES
    if cfg.labels == "crowd" or cfg.soften and cfg.soft_from == "votes":
        optional["role"] = schema.CROWD_ROLE
    columns |= {k: f for k, f in optional.items() if f.split(".")[0] in have}
    return [dict(zip(columns, vals)) for vals in zip(*ds.values(list(columns.values())))]


def _policy_label(r: dict[str, Any], cfg: ApplyConfig,
                  relabel: bool = True) -> tuple[str | None, str | None]:
    """(label, reason) the label policies give a sample without a review relabel (`relabel`
    False: --auto relabels nothing, its model being too weak)."""
    base = raw_label(r.get("source") or "", r.get("orig"), fallback=r["label"])
    current, why = r["label"], r.get("label_reason")
    if r["split"] == PROTECTED and not cfg.include_test:
        return current, why
    if cfg.labels == "crowd" and r.get("crowd") in CLASS_INDEX and not _judge(r):
        agreement = r.get("crowd_agreement")
        share = f" ({agreement:.0%} of the votes)" if agreement is not None else ""
        return r["crowd"], f"{CROWD} consensus{share}"
    if cfg.auto and relabel and r.get("posterior") is not None and base in CLASS_INDEX:
        post = np.asarray(r["posterior"], dtype=np.float64)
        best = int(auto_relabel_targets(np.array([CLASS_INDEX[base]]), post[None])[0])
        if CLASSES[best] != base:
            return CLASSES[best], (f"{AUTO} P({CLASSES[best]}) {post[best]:.2f} > "
                                   f"P({base}) {post[CLASS_INDEX[base]]:.2f}")
    policy_made = (why or "").startswith(AUTO) and cfg.auto or (
        (why or "").startswith(CROWD) and cfg.labels != "crowd")
    return (base, None) if policy_made else (current, why)


def _target(r: dict[str, Any], cfg: ApplyConfig, auto: dict[str, str],
            relabel: bool = True) -> tuple[Target, bool]:
    """The wanted state of one sample, and whether a review tag on test was left alone."""
    excluded, reason = bool(r.get("excluded")), r.get("reason")
    action, cls = review_decision(r["tags"])
    if action == "conflict":
        raise InputError(f"sample {r['id']} has both {REVIEW_DROP} and {REVIEW_KEEP}; "
                         "remove one in the App")
    skipped = bool(action) and r["split"] == PROTECTED and not cfg.include_test
    if skipped:
        action = None
    if action == "drop":
        excluded, reason = True, REVIEW_DROP
    elif action == "keep":
        excluded, reason = False, None
    elif r["id"] in auto:
        excluded, reason = True, auto[r["id"]]
    elif cfg.auto and excluded and (reason or "").startswith(AUTO):
        excluded, reason = False, None  # the policy changed: it no longer drops this one
    label, why = (cls, REVIEW) if cls else _policy_label(r, cfg, relabel)
    return Target(excluded, reason, label, bool(r.get("excluded")), r.get("reason"),
                  r["label"], why, r.get("label_reason")), skipped


def _targets(rows: list[dict[str, Any]], cfg: ApplyConfig,
             relabel: bool = True) -> tuple[dict[str, Target], int]:
    """Per sample id: the wanted state; and the number of test samples left alone."""
    # groups are judged whole; a sample with a review tag keeps the reviewer's decision
    auto = auto_drops(rows, cfg.include_test) if cfg.auto else {}
    wanted: dict[str, Target] = {}
    skipped = 0
    for r in rows:
        wanted[r["id"]], left_alone = _target(r, cfg, auto, relabel)
        skipped += left_alone
    return wanted, skipped


def _declare(ds: Any) -> bool:
    """Declare the exclusion fields; True when this is the dataset's first apply."""
    f = store.fo()
    have = ds.get_field_schema()
    if EXCLUDED not in have:
        ds.add_sample_field(EXCLUDED, f.BooleanField)
    if EXCLUSION_REASON not in have:
        ds.add_sample_field(EXCLUSION_REASON, f.StringField)
    return EXCLUDED not in have


def _write(ds: Any, first: bool, changed_ex: dict[str, Target], changed_lab: dict[str, Target],
           changed_soft: dict[str, list | None]) -> None:
    if first:  # every sample gets an explicit False
        ds.set_values(EXCLUDED, [False] * len(ds))
    if changed_ex:
        ds.set_values(EXCLUDED, {i: t.excluded for i, t in changed_ex.items()}, key_field="id")
        ds.set_values(EXCLUSION_REASON, {i: t.reason for i, t in changed_ex.items()},
                      key_field="id")
    if changed_lab:
        if LABEL_REASON not in ds.get_field_schema():
            ds.add_sample_field(LABEL_REASON, store.fo().StringField)
        ds.set_values(LABEL_PATH, {i: t.label for i, t in changed_lab.items()}, key_field="id")
        ds.set_values(LABEL_REASON, {i: t.label_reason for i, t in changed_lab.items()},
                      key_field="id")
    if changed_soft:
        if SOFT_LABEL not in ds.get_field_schema():
            f = store.fo()
            ds.add_sample_field(SOFT_LABEL, f.ListField, subfield=f.FloatField)
        ds.set_values(SOFT_LABEL, changed_soft, key_field="id")


def _mark_used_votes(ds: Any, rows: list[dict[str, Any]], wanted: dict[str, Target],
                     cfg: ApplyConfig, result: ApplyResult) -> None:
    """`crowd_role` = "calibrate" on the rows whose votes made their label (`--labels crowd`)
    or soft label (`--soft-from votes`); the judges the crowd policies left alone, counted."""
    soft_votes = bool(cfg.soften) and cfg.soft_from == "votes"
    if cfg.labels != "crowd" and not soft_votes:
        return
    used, kept = [], 0
    for r in rows:
        has_votes = r.get("crowd") in CLASS_INDEX or r.get("votes") is not None
        if _judge(r):
            kept += has_votes and r["split"] != PROTECTED
            continue
        by_crowd = (wanted[r["id"]].label_reason or "").startswith(CROWD)
        by_votes = soft_votes and r["split"] != PROTECTED and _vote_shares(r) is not None
        if (by_crowd or by_votes) and r.get("role") != schema.CALIBRATE:
            used.append(r["id"])
    if kept:
        result.changed["crowd_judges_kept"] = kept
    if used:
        if schema.CROWD_ROLE not in ds.get_field_schema():
            ds.add_sample_field(schema.CROWD_ROLE, store.fo().StringField)
        ds.set_values(schema.CROWD_ROLE, dict.fromkeys(used, schema.CALIBRATE), key_field="id")
        result.changed["crowd_role:calibrate"] = len(used)


def apply_reviews(cfg: ApplyConfig) -> ApplyResult:
    """Commit review tags (and the auto, label and soft-label policies) to `excluded` /
    `ground_truth` / `soft_label`; idempotent."""
    ds = store.load_dataset(cfg.dataset)
    if len(ds) == 0:
        raise StoreError(f"dataset {cfg.dataset!r} is empty; run `curate ingest ...` first")
    _check_tags(ds)
    t0 = time.perf_counter()
    cfg = resolve(ds, cfg)
    rows = _read_rows(ds, cfg)
    weak = weak_relabeller(ds) if cfg.auto else None
    wanted, skipped = _targets(rows, cfg, relabel=weak is None)
    result = ApplyResult(skipped_test=skipped)
    first = _declare(ds)
    changed_ex = {i: t for i, t in wanted.items() if t.exclusion_changed}
    changed_lab = {i: t for i, t in wanted.items() if t.label_changed}
    soften = cfg.soften or 0.0
    changed_soft = _soft_changes(rows, wanted, soften, cfg.soft_from or SOFT_SOURCES[0])
    for t in changed_ex.values():
        result.changed["excluded" if t.excluded else "included"] += 1
    result.changed["relabelled"] = sum(t.label != t.was_label for t in changed_lab.values())
    for why in (t.label_reason for t in changed_lab.values() if t.label != t.was_label):
        result.changed[f"relabelled:{(why or 'source label').split(':')[0]}"] += 1
    if soften or changed_soft:
        result.changed["soft_labels"] = len(changed_soft)
    warnings = [w for w in (weak, weak_teacher(ds) if soften else None) if w]
    result.warning = "; ".join(warnings) or None
    for w in warnings:
        log.warning(w)
    _write(ds, first, changed_ex, changed_lab, changed_soft)
    _mark_used_votes(ds, rows, wanted, cfg, result)
    result.noop = not changed_ex and not changed_lab and not changed_soft
    _record(ds, cfg, wanted, result, changed_ex, changed_lab, time.perf_counter() - t0)
    return result


def _record(ds: Any, cfg: ApplyConfig, wanted: dict[str, Target],
            result: ApplyResult, changed_ex: dict[str, Target], changed_lab: dict[str, Target],
            seconds: float) -> None:
    """Who/when/what into the run history (ids capped to keep `dataset.info` small)."""
    counts = {**dict(result.changed), "skipped_test": result.skipped_test,
              "excluded_total": sum(1 for t in wanted.values() if t.excluded)}
    config = asdict(cfg)
    runs.record(ds, "apply", config=config | {"user": cfg.user or getpass.getuser()},
                fp=runs.fingerprint(config, sorted((i, *t.state()) for i, t in wanted.items())),
                counts=counts, seconds=seconds, noop=result.noop,
                relabelled_ids=sorted(changed_lab)[:5000],
                excluded_ids=sorted(i for i, t in changed_ex.items() if t.excluded)[:5000])
