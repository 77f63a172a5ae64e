"""Every name the store holds, defined once: sample fields, tags, saved views, sample selections,
and the one text form of soft labels.

Stages, `train`, `augment`, the App and the tests use these constants instead of string
literals, so a field is renamed here or nowhere. `docs/architecture.md` lists who writes each
field. Selections are MongoDB match expressions (plain dicts: no FiftyOne import here), applied
with `collection.match(...)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES, FERPLUS_COLUMNS

# --- identity and labels (ingest) ---------------------------------------------------------------
FILEPATH = "filepath"
LABEL = "ground_truth"  # fo.Classification in the unified taxonomy
LABEL_PATH = "ground_truth.label"
ORIG_LABEL = "orig_label"  # what the source said; never modified
SOURCE = "source"
SOURCE_ID = "source_id"  # CSV row number or path relative to the dataset root
SPLIT = "split"
TAGS = "tags"
METADATA = "metadata"

REAL_SOURCES = ("fer2013", "rafdb", "folder")
DERIVED_SOURCES = ("synthetic", "augmented")  # train-only; made from real samples
SYNTHETIC_SOURCE, AUGMENTED_SOURCE = DERIVED_SOURCES

# --- FER+ crowd votes (ingest ferplus) ------------------------------------------------------------
FERPLUS_VOTES = "ferplus_votes"  # 10 counts in FERPLUS_COLUMNS order
FERPLUS_LABEL = "ferplus_label"  # strict majority; contempt / unknown / nonface kept
FERPLUS_AGREEMENT = "ferplus_agreement"
CROWD_LABEL = "crowd_label"  # clean: CROWDLAB consensus of the votes and the model (voted rows)
CROWD_AGREEMENT = "crowd_agreement"  # share of the emotion votes for the consensus
CROWD_LABEL_QUALITY = "crowd_label_quality"  # CROWDLAB's confidence in the consensus
# clean (labels) and apply, voted rows only: what the row's votes may do. "calibrate": they shaped
# the curation (the label audit's calibration, so `apply --auto`'s targets, or `apply --labels
# crowd` / `--soft-from votes`): `train compare` leaves such rows out of its crowd scores.
# "judge": they only judge (held out by `clean --crowd-holdout`, or a test row): apply's crowd
# policies never read them. None: nothing has used them yet
CROWD_ROLE = "crowd_role"
CROWD_ROLES = ("calibrate", "judge")
CALIBRATE, JUDGE = CROWD_ROLES

# --- answers: every human answer, one record each (curate.votes; FER+ ingest is one importer) ---
# a list of dicts with ANSWER_KEYS, appended to and never rewritten: `annotator` (a name;
# FER+'s votes are pseudo-annotators "ferplus:1".."ferplus:N" per face, in column order),
# `label` (ANSWER_LABELS), `at` (UTC datetime), `via` (ANSWER_VIAS: where it came from), `task`
# (the `curate annotate` task it answers, "" when none) and `key` (a hash of its origin: a
# re-import of the same file adds nothing). The same annotator answering a face twice: both
# kept, the later (by `at`, then order) counts. FERPLUS_VOTES / FERPLUS_LABEL /
# FERPLUS_AGREEMENT and the per-column counts are derived from it (curate.votes.answers)
ANSWERS = "answers"
ANSWER_KEYS = ("annotator", "label", "at", "via", "task", "key")
ANSWER_VIAS = ("app", "labelstudio", "review", "import", "ferplus")
APP_VIA, LABELSTUDIO_VIA, REVIEW_VIA, IMPORT_VIA, FERPLUS_VIA = ANSWER_VIAS
NONFACE, UNSURE = "nonface", "unsure"  # "not a face" (FER+'s NF) and "cannot tell" (its unknown)
CONTEMPT = "contempt"  # FER+'s eighth emotion: only its own votes carry it (not a class here)
ANSWER_LABELS = (*CLASSES, CONTEMPT, NONFACE, UNSURE)
# curate annotate: the faces chosen to ask about. ASK_TASK: the task's name (tag `ask:<task>`
# too); ASK_ROLE: CALIBRATE (the label audit may fit on its answers) or JUDGE (drawn at random,
# only judges: the calibration never fits on them)
ASK_TASK = "ask_task"
ASK_ROLE = "ask_role"
ASK_PREFIX = "ask:"

# --- clean ----------------------------------------------------------------------------------------
PHASH = "phash"
DUP_GROUP = "dup_group"  # near-duplicate (pHash) group
EXACT_GROUP = "exact_group"  # pixel-identical group
QUALITY_REASONS = "quality_reasons"
FACE_SCORE = "face_score"
LABEL_QUALITY = "label_quality"  # 1 - label_error_prob: low = suspect
LABEL_ERROR_PROB = "label_error_prob"  # estimated probability that the label is wrong
LABEL_POSTERIOR = "label_posterior"  # P(true class | image, given label): 7 floats, CLASSES order
SUGGESTED_LABEL = "suggested_label"
OOF = "oof"  # out-of-fold probabilities: 7 floats in CLASSES order
OUTLIER_SCORE = "outlier_score"
NEAR_DUPLICATE_SCORE = "near_duplicate_score"
NEAR_DUPLICATE_SET = "near_duplicate_set"

# --- review and apply -----------------------------------------------------------------------------
EXCLUDED = "excluded"
EXCLUSION_REASON = "exclusion_reason"
LABEL_REASON = "label_reason"  # why ground_truth differs from the source's label (apply)
# the prefixes of the reasons apply's automatic policies write (--auto: exclusions and labels;
# --labels crowd: labels). A label they made is clean's own output: clean audits the source's
# label there (curate.core.views.audited_view), so clean -> apply -> clean settles
AUTO_REASON = "auto:"
CROWD_REASON = "crowd:"
POLICY_LABEL_REASONS = (AUTO_REASON, CROWD_REASON)
SOFT_LABEL = "soft_label"  # apply --soften's targets: 7 floats in CLASSES order (curated only)
# every review decision made in the App (curate.review): a list of dicts with REVIEW_LOG_KEYS
REVIEW_LOG = "review_log"
REVIEW_LOG_KEYS = ("action", "label", "given", "reviewer", "at", "batch", "before", "applied",
                   "undoes")
# what the review grid draws beside LABEL (the current label), so a reviewer sees why a face was
# flagged: REVIEW_GIVEN, the source's own label in the taxonomy (ORIG_LABEL mapped: what the
# audit judged), and REVIEW_SUGGESTED, the audit's suggestion (SUGGESTED_LABEL's class and
# confidence). Both fo.Classification, written by `curate app` on launch for every audited
# sample (curate.review.grid), each in its own fixed colour
REVIEW_GIVEN = "review_given"
REVIEW_SUGGESTED = "review_suggested"

# --- restore, balance, synthesis ------------------------------------------------------------------
RESTORED_FILEPATH = "restored_filepath"
RESTORE_METHOD = "restore_method"
RESTORE_WEIGHTS_SHA256 = "restore_weights_sha256"
BALANCE_DROP = "balance_drop"
ORIG_SPLIT = "orig_split"  # the split before balance's first --resplit
LABEL_FEATURES = "label_features"  # dataset.info key: clean's features file (the review queue's)
BALANCE_PLAN = "balance_plan"  # dataset.info key: balance's plan, read by `augment synth --plan`
PARENT = "parent"  # an augmented sample's real parent (sample id)
TRANSFORMS = "transforms"
SYNTHETIC = "synthetic"  # generation metadata (model, prompt, seed, gate scores)

# --- tags and saved views -------------------------------------------------------------------------
ISSUE_PREFIX = "issue:"
ISSUE_KINDS = ("duplicate", "leak", "conflict", "lowinfo", "dark", "light", "blurry", "nonface",
               "label", "outlier", "near_duplicate", "restore_changed",
               "crowd_given", "crowd_model", "crowd_split")  # crowd_*: curate.clean.crowd
REVIEW_PREFIX = "review:"
REVIEW_DROP = "review:drop"
REVIEW_KEEP = "review:keep"
REVIEW_RELABEL = "review:relabel:"  # + class
SYNTHETIC_TAG = "synthetic"


def issue_tag(kind: str) -> str:
    """The tag (and saved-view name) of an issue kind: `issue:<kind>`."""
    if kind not in ISSUE_KINDS:
        raise ValueError(f"unknown issue kind {kind!r}; known: {', '.join(ISSUE_KINDS)}")
    return ISSUE_PREFIX + kind


def ask_tag(task: str) -> str:
    """The tag (and saved-view name) of a `curate annotate` task: `ask:<task>`."""
    return ASK_PREFIX + task


def relabel_tag(cls: str) -> str:
    return REVIEW_RELABEL + cls


def split_view(split: str) -> str:
    """The saved-view name of a split."""
    return f"split:{split}"


# --- selections -----------------------------------------------------------------------------------
def real() -> dict[str, Any]:
    """Real samples: not synthetic, not augmented (what raw, clean, restore and oof read)."""
    return {SOURCE: {"$nin": list(DERIVED_SOURCES)}}


def in_splits(splits: Sequence[str]) -> dict[str, Any]:
    return {SPLIT: {"$in": list(splits)}}


def not_excluded() -> dict[str, Any]:
    return {EXCLUDED: {"$ne": True}}


def real_in_splits(splits: Sequence[str]) -> dict[str, Any]:
    """Real samples of the given splits (the samples `curate clean` checks)."""
    return {"$and": [real(), in_splits(splits)]}


# --- soft labels: one text form, one parser, strict both ways -------------------------------------
SOFT_SEP = ";"
SOFT_TOLERANCE = 1e-2  # written with 4 decimals; hand-made manifests round more


def check_soft(values: Any, where: str) -> np.ndarray:
    """A soft label as a (classes,) float array; InputError unless it is len(CLASSES) finite
    non-negative values summing to 1 (within rounding)."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.zeros(0)
    if (arr.shape != (len(CLASSES),) or not np.isfinite(arr).all() or (arr < 0).any()
            or abs(arr.sum() - 1.0) > SOFT_TOLERANCE):
        raise InputError(f"{where}: soft label {values!r} is not {len(CLASSES)} non-negative "
                         f"probabilities summing to 1 (class order {', '.join(CLASSES)})")
    return arr


def encode_soft(values: Any) -> str:
    """The text form (manifest.csv): 7 probabilities, 4 decimals, ';'-joined; '' for None."""
    if values is None:
        return ""
    return SOFT_SEP.join(f"{v:.4f}" for v in check_soft(values, "encode").tolist())


def decode_soft(text: str, where: str) -> np.ndarray | None:
    """Parse `encode_soft`'s text; None for ''; InputError (naming `where`) otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(SOFT_SEP)]
    except ValueError:
        raise InputError(f"{where}: soft label {text!r} is not numbers separated by "
                         f"{SOFT_SEP!r}") from None
    return check_soft(values, where)


# --- crowd votes in an export's manifest: the same text form, one parser ---------------------------
def encode_votes(values: Any) -> str:
    """The text form (manifest.csv `ferplus_votes`): 10 counts in FERPLUS_COLUMNS order,
    ';'-joined; '' for None."""
    if values is None:
        return ""
    return SOFT_SEP.join(str(int(v)) for v in values)


def decode_votes(text: str, where: str) -> np.ndarray | None:
    """Parse `encode_votes`'s text; None for ''; InputError (naming `where`) otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        arr = np.array([int(v) for v in text.split(SOFT_SEP)], dtype=np.int64)
    except ValueError:
        arr = np.zeros(0, dtype=np.int64)
    if arr.shape != (len(FERPLUS_COLUMNS),) or (arr < 0).any():
        raise InputError(f"{where}: crowd votes {text!r} are not {len(FERPLUS_COLUMNS)} "
                         f"non-negative counts separated by {SOFT_SEP!r} "
                         f"({', '.join(FERPLUS_COLUMNS)})")
    return arr
