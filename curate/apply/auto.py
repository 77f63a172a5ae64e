"""`curate apply --auto`: the automatic policy (drops of exact duplicates across splits or
with conflicting labels, relabels by the label check's posterior; see `curate.apply`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from curate.core import schema
from curate.core.schema import EXACT_GROUP
from curate.core.taxonomy import CLASS_INDEX, CLASSES, TEST, TRAIN
from curate.core.views import audited_label

AUTO = schema.AUTO_REASON  # the prefix of every exclusion (and label) reason --auto writes


def auto_drops(rows: list[dict[str, Any]], include_test: bool) -> dict[str, str]:
    """The auto policy over exact-duplicate groups: sample id -> exclusion reason."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.get(EXACT_GROUP) is not None:
            groups[r[EXACT_GROUP]].append(r)
    out: dict[str, str] = {}
    for members in groups.values():
        # the kept copy: test first (never edited by default), then train, then val
        members.sort(key=lambda r: (r["split"] != TEST, r["split"] != TRAIN, r["id"]))
        # the labels the duplicate check judged: a relabel this policy made is its own output
        labels = {audited_label(r.get("source") or "", r.get("orig"), r["label"],
                                r.get("label_reason")) for r in members}
        splits = {r["split"] for r in members}
        for r in members:
            editable = r["split"] != TEST or include_test
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


def auto_relabel(base: str | None, posterior: Any) -> tuple[str, str] | None:
    """(label, reason) --auto gives a sample whose source label is `base`; None: it keeps it."""
    if posterior is None or base not in CLASS_INDEX:
        return None
    post = np.asarray(posterior, dtype=np.float64)
    best = int(auto_relabel_targets(np.array([CLASS_INDEX[base]]), post[None])[0])
    if CLASSES[best] == base:
        return None
    return CLASSES[best], (f"{AUTO} P({CLASSES[best]}) {post[best]:.2f} > "
                           f"P({base}) {post[CLASS_INDEX[base]]:.2f}")
