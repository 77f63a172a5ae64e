"""`curate balance` on the store: read the train state, plan, apply (marks + augmented samples),
and re-split. The decisions are made by the pure functions of curate.balance.plan.

Applying is idempotent: augmented samples have deterministic `source_id`s
(`<class>/<parent source>/<parent source_id>#aug<k>`, `#copy<k>` for `--augment copy`) and
files, undersampling is the `balance_drop` field recomputed for every sample; a re-run with the
same settings on the same data changes nothing. Nothing is deleted: surplus augmented or
synthetic samples are marked.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from curate.balance.plan import (
    BalanceConfig,
    Plan,
    choose_drops,
    choose_parents,
    plan_counts,
    rank,
    stratified_group_split,
)
from curate.core import runs, schema, store
from curate.core.errors import InputError
from curate.core.imageio import IMAGE_FORMATS, write_png_atomic
from curate.core.options import option, sub
from curate.core.progress import task
from curate.core.schema import (
    AUGMENTED_SOURCE,
    BALANCE_DROP,
    DERIVED_SOURCES,
    PARENT,
    SYNTHETIC_SOURCE,
    TRANSFORMS,
)
from curate.core.taxonomy import CLASSES
from curate.core.views import raw_label

log = logging.getLogger(__name__)

CHUNK = 1000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
ORIG_SPLIT = schema.ORIG_SPLIT
PLAN_INFO = schema.BALANCE_PLAN
# Table column -> the field it reads.
COLUMNS = {"id": "id", "source": schema.SOURCE, "source_id": schema.SOURCE_ID,
           "split": schema.SPLIT, "label": schema.LABEL_PATH, "orig_label": schema.ORIG_LABEL,
           "filepath": schema.FILEPATH, "excluded": schema.EXCLUDED, "group": schema.DUP_GROUP,
           "drop": BALANCE_DROP, "restored": schema.RESTORED_FILEPATH,
           "restore_method": schema.RESTORE_METHOD, "parent": PARENT, "orig_split": ORIG_SPLIT}


@dataclass
class Table:
    """The fields balancing reads, one list per field, aligned by sample."""

    cols: dict[str, list]

    def __len__(self) -> int:
        return len(self.cols["id"])

    def __getitem__(self, name: str) -> list:
        return self.cols[name]

    def key(self, i: int) -> str:
        return f"{self.cols['source'][i]}/{self.cols['source_id'][i]}"


def read_table(ds: Any) -> Table:
    """Every sample's COLUMNS (None where the dataset lacks the field)."""
    have = ds.get_field_schema()
    present = {k: v for k, v in COLUMNS.items() if v.split(".")[0] in have or k == "id"}
    values = ds.values(list(present.values())) if present else []
    cols = dict(zip(present, values, strict=True))
    n = len(cols["id"])
    for k in COLUMNS:
        cols.setdefault(k, [None] * n)
    return Table(cols)


@dataclass
class Selection:
    """What applying a plan means for each sample."""

    drop: set[str] = field(default_factory=set)  # sample ids to mark balance_drop
    augment: list[tuple[str, int, int]] = field(default_factory=list)  # (class, parent row, k)
    augmented_ids: dict[str, str] = field(default_factory=dict)  # wanted source_id -> class


def _real_counts(t: Table) -> tuple[dict[tuple[str, str], int], dict[str, list[int]], Counter]:
    counts: Counter = Counter()
    train: dict[str, list[int]] = defaultdict(list)
    synth: Counter = Counter()
    for i in range(len(t)):
        src, split, excluded = t["source"][i], t["split"][i], bool(t["excluded"][i])
        if t["label"][i] not in CLASSES and split != "test":
            continue
        if src == SYNTHETIC_SOURCE:
            synth[t["label"][i]] += split == "train" and not excluded
        elif src not in DERIVED_SOURCES and split == "test":
            counts[(split, raw_label(src, t["orig_label"][i], t["label"][i]))] += 1
        elif src not in DERIVED_SOURCES and not excluded:
            counts[(split, t["label"][i])] += 1
            if split == "train":
                train[t["label"][i]].append(i)
    return dict(counts), train, synth


def aug_source_id(cls: str, parent_key: str, k: int, mode: str = "classical") -> str:
    return f"{cls}/{parent_key}#{'copy' if mode == 'copy' else 'aug'}{k}"


def plan_balance(t: Table, cfg: BalanceConfig) -> tuple[Plan, Selection]:
    """The plan and the per-sample selection that realises it."""
    counts, train, synth = _real_counts(t)
    plan = plan_counts(counts, cfg, dict(synth))
    sel = Selection()
    if cfg.target is None:
        return plan, sel
    for cls, idx in train.items():
        row = plan.row("train", cls)
        keys = [t.key(i) for i in idx]
        by_key = dict(zip(keys, idx, strict=True))
        groups = [t["group"][i] for i in idx]
        drops = choose_drops(keys, groups, row.removed, cfg.seed)
        sel.drop.update(t["id"][by_key[k]] for k in drops)
        for parent, k in choose_parents(keys, row.augmented, cfg.seed):
            sel.augment.append((cls, by_key[parent], k))
            sel.augmented_ids[aug_source_id(cls, parent, k, cfg.augment)] = cls
    _drop_surplus_synthetic(t, plan, sel, cfg.seed)
    for i in range(len(t)):
        if t["source"][i] == AUGMENTED_SOURCE and t["source_id"][i] not in sel.augmented_ids:
            sel.drop.add(t["id"][i])
    return plan, sel


def _drop_surplus_synthetic(t: Table, plan: Plan, sel: Selection, seed: int) -> None:
    by_cls: dict[str, list[int]] = defaultdict(list)
    for i in range(len(t)):
        if (t["source"][i] == SYNTHETIC_SOURCE and t["split"][i] == "train"
                and not t["excluded"][i]):
            by_cls[t["label"][i]].append(i)
    for cls, idx in by_cls.items():
        keep = plan.row("train", cls).synthetic if cls in CLASSES else 0
        order = rank([t.key(i) for i in idx], seed)
        sel.drop.update(t["id"][idx[j]] for j in order[keep:])


def _read_image(path: str) -> np.ndarray:
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        return np.asarray(im.convert("L" if im.mode in ("L", "I;16", "I", "1") else "RGB"))


def media_name(source_id: str) -> str:
    return _UNSAFE.sub("_", source_id).strip("._") or "sample"


@dataclass
class ApplyResult:
    created: int = 0
    marked: int = 0
    unmarked: int = 0
    seconds: float = 0.0
    noop: bool = False


def apply_plan(ds: Any, plan: Plan, sel: Selection, t: Table, media: Path,
               progress: bool = True) -> ApplyResult:
    """Create the missing augmented samples and set `balance_drop` on every sample."""
    t0 = time.perf_counter()
    res = ApplyResult(created=_create_augmented(ds, plan, sel, t, media, progress))
    old = {t["id"][i]: bool(t["drop"][i]) for i in range(len(t))}
    new = {i: i in sel.drop for i in old}
    res.marked = sum(v and not old[k] for k, v in new.items())
    res.unmarked = sum(old[k] and not v for k, v in new.items())
    if res.marked or res.unmarked or BALANCE_DROP not in ds.get_field_schema():
        ds.set_values(BALANCE_DROP, new, key_field="id")
    ds.reload()
    ds.info[PLAN_INFO] = plan.to_dict()
    ds.save()
    res.noop = not (res.created or res.marked or res.unmarked)
    res.seconds = round(time.perf_counter() - t0, 3)
    return res


def _create_augmented(ds: Any, plan: Plan, sel: Selection, t: Table, media: Path,
                      progress: bool) -> int:
    """Insert the selected augmented samples not yet present, chunk by chunk (each insert is
    the commit point of its chunk's files); returns how many were created."""
    present = {t["source_id"][i] for i in range(len(t)) if t["source"][i] == AUGMENTED_SOURCE}
    mode = plan.config.augment
    todo = [a for a in sel.augment if aug_source_id(a[0], t.key(a[1]), a[2], mode) not in present]
    if todo:
        _declare_fields(ds)
    created = 0
    with task("augment", len(todo), progress) as tick:
        for start in range(0, len(todo), CHUNK):
            samples = [_augmented_sample(t, a, plan.config.seed, media, mode)
                       for a in todo[start:start + CHUNK]]
            created += store.insert_samples(ds, samples)
            tick(len(samples))
    return created


def _declare_fields(ds: Any) -> None:
    f = store.fo()
    have = ds.get_field_schema()
    for name, ftype in ((PARENT, f.StringField), (TRANSFORMS, f.StringField),
                        (BALANCE_DROP, f.BooleanField)):
        if name not in have:
            ds.add_sample_field(name, ftype)


def _augmented_sample(t: Table, a: tuple[str, int, int], seed: int, media: Path,
                      mode: str = "classical") -> Any:
    cls, i, k = a
    f = store.fo()
    key = t.key(i)
    sid = aug_source_id(cls, key, k, mode)
    if mode == "copy":  # the parent's own files: each view shows copy and parent alike
        image, desc = _read_image(t["filepath"][i]), "copy"
    else:
        from augment.classical import augment, seed_for

        src = t["restored"][i] or t["filepath"][i]
        image, desc = augment(_read_image(src), seed_for(seed, key, k))
    path = media / AUGMENTED_SOURCE / f"{media_name(sid)}.png"
    size = write_png_atomic(image, path)
    h, w = image.shape[:2]
    meta = f.ImageMetadata(width=w, height=h, num_channels=1 if image.ndim == 2 else image.shape[2],
                           size_bytes=size, mime_type="image/png")
    fields = {schema.FILEPATH: str(path), schema.METADATA: meta,
              schema.LABEL: f.Classification(label=cls), schema.ORIG_LABEL: cls,
              schema.SOURCE: AUGMENTED_SOURCE, schema.SOURCE_ID: sid, schema.SPLIT: "train",
              PARENT: t["id"][i], TRANSFORMS: desc, BALANCE_DROP: False}
    if mode == "copy" and t["restored"][i]:  # with how it was restored, as the parent's
        fields[schema.RESTORED_FILEPATH] = t["restored"][i]
        fields[schema.RESTORE_METHOD] = t["restore_method"][i]
    return f.Sample(**fields)


def new_splits(t: Table, fractions: dict[str, float], seed: int) -> dict[int, str]:
    """Row index -> new split for every real sample: stratified, duplicate groups together."""
    real = [i for i in range(len(t)) if t["source"][i] not in DERIVED_SOURCES]
    if not real:
        raise InputError("no real samples to re-split; run `curate ingest ...` first")
    labels = [str(t["label"][i]) for i in real]
    groups = [t["group"][i] or f"id:{t['id'][i]}" for i in real]
    return dict(zip(real, stratified_group_split(labels, groups, fractions, seed), strict=True))


def with_splits(t: Table, splits: dict[int, str]) -> Table:
    cols = dict(t.cols)
    cols["split"] = [splits.get(i, s) for i, s in enumerate(t["split"])]
    return Table(cols)


def write_splits(ds: Any, t: Table, splits: dict[int, str]) -> int:
    """Store new splits (the first re-split keeps the old one in `orig_split`).

    Augmented samples whose parent left train are marked `balance_drop`; returns their number.
    """
    first = {t["id"][i]: t["split"][i] for i in range(len(t)) if t["orig_split"][i] is None}
    if first:
        ds.set_values(ORIG_SPLIT, first, key_field="id")
    ds.set_values(schema.SPLIT, {t["id"][i]: s for i, s in splits.items()}, key_field="id")
    train = {t["id"][i] for i, s in splits.items() if s == "train"}
    orphans = {t["id"][i]: True for i in range(len(t))
               if t["source"][i] == AUGMENTED_SOURCE and t["parent"][i] not in train}
    if orphans:
        ds.set_values(BALANCE_DROP, orphans, key_field="id")
        log.info("%d augmented samples lost their train parent: marked balance_drop", len(orphans))
    return len(orphans)


def balance_fingerprint(cfg: BalanceConfig, t: Table) -> str:
    rows = sorted((t.key(i), t["split"][i], t["label"][i], bool(t["excluded"][i]), t["group"][i])
                  for i in range(len(t)) if t["source"][i] != AUGMENTED_SOURCE)
    return runs.fingerprint(asdict(cfg), rows)


@dataclass(frozen=True, kw_only=True)
class BalanceStageConfig:
    """What `curate balance` was asked to do: the planner's settings (`balance`, what plans and
    fingerprints record) and where and how to apply them; each option declared once."""

    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    progress: bool = True
    balance: BalanceConfig = sub(BalanceConfig)
    resplit: bool = option(False, flags=("--resplit",), help="New stratified train/val/test, "
                           "duplicate groups kept together.")
    val_fraction: float = option(0.1, help="Val share for --resplit.")
    test_fraction: float = option(0.1, help="Test share for --resplit.")
    dry_run: bool = option(False, flags=("--dry-run",), help="Print the plan, change nothing.")

    def __post_init__(self) -> None:
        if self.balance.target is None and not self.resplit:
            raise InputError("nothing to do: give --target N (per-class train count) and/or "
                             "--resplit")
        for name, v in (("--val-fraction", self.val_fraction),
                        ("--test-fraction", self.test_fraction)):
            if not 0 <= v < 1:
                raise InputError(f"{name} must be in [0, 1), got {v}")
        if self.val_fraction + self.test_fraction >= 1:
            raise InputError("--val-fraction + --test-fraction must leave a train split (< 1), "
                             f"got {self.val_fraction + self.test_fraction:g}")

    @property
    def fractions(self) -> dict[str, float]:
        return {"train": 1 - self.val_fraction - self.test_fraction, "val": self.val_fraction,
                "test": self.test_fraction}


@dataclass
class StageResult:
    plan: Plan | None = None
    split_counts: Counter | None = None
    applied: ApplyResult | None = None
    written: bool = False  # confirmed and applied (not a dry run)

    @property
    def noop(self) -> bool:
        return self.split_counts is None and (self.applied is None or self.applied.noop)


def run_balance(cfg: BalanceStageConfig, ds: Any | None = None,
                confirm: Callable[[StageResult], bool] | None = None) -> StageResult:
    """Re-split (optional) and plan in memory; then, unless dry-run or `confirm` says no,
    write the splits and apply the plan."""
    ds = ds if ds is not None else store.load_dataset(cfg.dataset)
    t0 = time.perf_counter()
    out = StageResult()
    t = read_table(ds)
    splits: dict[int, str] = {}
    if cfg.resplit:
        splits = new_splits(t, cfg.fractions, cfg.balance.seed)
        out.split_counts = Counter((s, str(t["label"][i])) for i, s in splits.items())
        t = with_splits(t, splits)
    out.plan, sel = plan_balance(t, cfg.balance)
    if cfg.balance.target is None:
        out.plan = None
    if cfg.dry_run or (confirm is not None and not confirm(out)):
        return out
    out.written = True
    if splits:
        write_splits(ds, read_table(ds), splits)
        settings = {"seed": cfg.balance.seed, **cfg.fractions}
        runs.record(ds, runs.RESPLIT, config=settings, fp=runs.fingerprint(settings),
                    counts={f"{s}/{c}": n for (s, c), n in sorted(out.split_counts.items())},
                    seconds=time.perf_counter() - t0)
    if out.plan is not None:
        _apply(ds, cfg, out, sel, t, t0)
    return out


def _apply(ds: Any, cfg: BalanceStageConfig, out: StageResult, sel: Selection, t: Table,
           t0: float) -> None:
    from curate.core.workspace import Workspace

    assert out.plan is not None
    media = Workspace.for_dataset(cfg.dataset, cfg.workspace).media
    out.applied = apply_plan(ds, out.plan, sel, t, media, cfg.progress)
    if out.applied.noop:
        return
    runs.record(ds, runs.BALANCE, config=asdict(cfg.balance),
                fp=balance_fingerprint(cfg.balance, t),
                counts={"created": out.applied.created, "marked": out.applied.marked,
                        "unmarked": out.applied.unmarked,
                        "final": {r.cls: r.final for r in out.plan.rows if r.split == "train"},
                        "synthetic_needed": out.plan.to_dict()["synthetic_needed"]},
                seconds=time.perf_counter() - t0)
