"""What `curate apply` reads from the dataset (one row per sample) and what it writes back:
exclusions, labels, soft labels, and its run in the history."""

from __future__ import annotations

import getpass
from dataclasses import asdict
from typing import Any

from curate.apply.config import ApplyConfig
from curate.apply.decisions import Target
from curate.core import runs, schema, store
from curate.core.errors import StoreError
from curate.core.schema import (
    EXACT_GROUP,
    EXCLUDED,
    EXCLUSION_REASON,
    LABEL_PATH,
    LABEL_REASON,
    OOF,
    SOFT_LABEL,
    SPLIT,
)


def _check_fields(have: dict[str, Any], cfg: ApplyConfig) -> None:
    """Refuse a policy whose input no check has written, naming the command that writes it."""
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


def read_rows(ds: Any, cfg: ApplyConfig) -> list[dict[str, Any]]:
    """Per sample: id, tags, split, label, source label and, where present, excluded, reason,
    exact_group, label reason, and what the label policy and soft labels read."""
    have = ds.get_field_schema()
    _check_fields(have, cfg)
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


def declare(ds: Any) -> bool:
    """Declare the exclusion fields; True when this is the dataset's first apply."""
    f = store.fo()
    have = ds.get_field_schema()
    if EXCLUDED not in have:
        ds.add_sample_field(EXCLUDED, f.BooleanField)
    if EXCLUSION_REASON not in have:
        ds.add_sample_field(EXCLUSION_REASON, f.StringField)
    return EXCLUDED not in have


def write(ds: Any, first: bool, changed_ex: dict[str, Target], changed_lab: dict[str, Target],
          changed_soft: dict[str, list | None]) -> None:
    """Write the changed exclusions, labels (with their reasons) and soft labels."""
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


def record(ds: Any, cfg: ApplyConfig, wanted: dict[str, Target], counts: dict[str, Any],
           noop: bool, changed_ex: dict[str, Target], changed_lab: dict[str, Target],
           seconds: float) -> None:
    """Who/when/what into the run history (ids capped to keep `dataset.info` small)."""
    counts = {**counts, "excluded_total": sum(1 for t in wanted.values() if t.excluded)}
    config = asdict(cfg)
    runs.record(ds, runs.APPLY, config=config | {"user": cfg.user or getpass.getuser()},
                fp=runs.fingerprint(config, sorted((i, *t.state()) for i, t in wanted.items())),
                counts=counts, seconds=seconds, noop=noop,
                relabelled_ids=sorted(changed_lab)[:5000],
                excluded_ids=sorted(i for i, t in changed_ex.items() if t.excluded)[:5000])
