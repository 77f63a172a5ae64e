"""The review tags `curate apply` commits and each sample's wanted state: a review decision
first, else the automatic and label policies (`curate.apply.auto`, `curate.apply.labels`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from curate.apply.auto import AUTO, auto_drops
from curate.apply.config import ApplyConfig
from curate.apply.labels import policy_label
from curate.core.errors import InputError
from curate.core.schema import REVIEW_DROP, REVIEW_KEEP, REVIEW_PREFIX, REVIEW_RELABEL
from curate.core.taxonomy import CLASSES, TEST

REVIEW = "review"  # the label reason of a review:relabel:<class> decision


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


def check_tags(ds: Any) -> None:
    """Refuse review tags with an unknown class or action, naming them and their counts."""
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


def _target(r: dict[str, Any], cfg: ApplyConfig, auto: dict[str, str],
            relabel: bool = True) -> tuple[Target, bool]:
    """The wanted state of one sample, and whether a review tag on test was left alone."""
    excluded, reason = bool(r.get("excluded")), r.get("reason")
    action, cls = review_decision(r["tags"])
    if action == "conflict":
        raise InputError(f"sample {r['id']} has both {REVIEW_DROP} and {REVIEW_KEEP}; "
                         "remove one in the App")
    skipped = bool(action) and r["split"] == TEST and not cfg.include_test
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
    label, why = (cls, REVIEW) if cls else policy_label(r, cfg, relabel)
    return Target(excluded, reason, label, bool(r.get("excluded")), r.get("reason"),
                  r["label"], why, r.get("label_reason")), skipped


def targets(rows: list[dict[str, Any]], cfg: ApplyConfig,
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
