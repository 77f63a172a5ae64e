"""Balancing, pure: the per-class plan, which samples to undersample, which parents to augment,
and a stratified re-split that keeps duplicate groups together. No DB here (see
curate/balance/stage.py for the adapter).

Plan for each class of the train split, with target T, r real samples:
- r > T: undersample r - T (exact duplicates first, then a seeded choice), unless
  `undersample` is off: then T is a floor and larger classes keep every sample;
- r < T: augmented copies, up to `max_augment` per real image (`augment`: `classical` transforms
  or lossless `copy`), then synthetic up to `max_synthetic * T`; a target out of reach says so
  with the numbers.
Val and test are never balanced. Selections rank samples by a seeded hash of their stable key,
so a small change in the input changes the output only a little, and a re-run changes nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from curate.core.errors import InputError
from curate.core.options import option
from curate.core.taxonomy import CLASSES, SPLITS

# How the extra copies of a rare class's images are made. `classical`: rotation/shift/zoom/
# brightness (augment.classical), varied images for a trainer without augmentation of its own;
# `copy`: the parent's pixels (random oversampling), for a trainer that augments every image
# itself: then rare-class copies carry no resampling artefact a network could learn as the
# class's cue (docs/results.md#classical-copies).
AUGMENT_MODES = ("classical", "copy")


@dataclass(frozen=True, kw_only=True)
class BalanceConfig:
    """Settings of `curate balance`; `target` None means no balancing (e.g. only a re-split)."""

    target: int | None = option(None, help="Train images per class after balancing.")
    max_synthetic: float = option(0.0, help="Largest fraction of a class's final train count "
                                  "that may be synthetic.")
    max_augment: float = option(4.0, help="Most classical-augmentation copies per real train "
                                "image.")
    seed: int = option(0, help="Seed of every choice (undersampling, augmentation, re-split).")
    undersample: bool = option(True, help="Cut classes above --target down to it "
                               "(--no-undersample: the target is a floor and larger classes "
                               "keep every image).")
    augment: str = option("classical", choices=AUGMENT_MODES, help="How rare-class copies are "
                          "made: classical (rotation, shift, zoom, brightness) or copy (the "
                          "parent's pixels: random oversampling, for trainers that augment "
                          "every image themselves).")

    def __post_init__(self) -> None:
        if self.augment not in AUGMENT_MODES:
            raise InputError(f"--augment {self.augment!r}: choose one of {', '.join(AUGMENT_MODES)}")
        if self.target is not None and self.target < 1:
            raise InputError(f"--target must be >= 1, got {self.target}")
        if not 0.0 <= self.max_synthetic <= 1.0:
            raise InputError(f"--max-synthetic is a fraction in [0, 1], got {self.max_synthetic}")
        if self.max_augment < 0:
            raise InputError(f"--max-augment must be >= 0 copies per image, got {self.max_augment}")


@dataclass
class PlanRow:
    """Counts of one (split, class): real kept + augmented + synthetic = final."""

    split: str
    cls: str
    real: int
    removed: int = 0
    augmented: int = 0
    synthetic: int = 0
    synthetic_existing: int = 0

    @property
    def final(self) -> int:
        return self.real - self.removed + self.augmented + self.synthetic

    @property
    def synthetic_needed(self) -> int:
        """How many more synthetic images `augment synth --plan balance` must make."""
        return max(0, self.synthetic - self.synthetic_existing)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "final": self.final, "synthetic_needed": self.synthetic_needed}


@dataclass
class Plan:
    config: BalanceConfig
    rows: list[PlanRow] = field(default_factory=list)

    def row(self, split: str, cls: str) -> PlanRow:
        return next(r for r in self.rows if r.split == split and r.cls == cls)

    def to_dict(self) -> dict[str, Any]:
        """The form stored in dataset.info["balance_plan"] (read by `augment synth --plan`)."""
        train = {r.cls: r.to_dict() for r in self.rows if r.split == "train"}
        return {"config": asdict(self.config), "rows": [r.to_dict() for r in self.rows],
                "synthetic_needed": {c: r["synthetic_needed"] for c, r in train.items()}}


def _infeasible(cls: str, real: int, cfg: BalanceConfig) -> tuple[str, float]:
    """How far a class falls short, and the --max-synthetic that would reach the target."""
    assert cfg.target is not None
    aug = math.floor(cfg.max_augment * real)
    syn = math.floor(cfg.max_synthetic * cfg.target)
    need = math.ceil((cfg.target - real - aug) / cfg.target * 100) / 100
    return f"{cls} {real} real + {aug} augmented + {syn} synthetic = {real + aug + syn}", need


def plan_counts(real: dict[tuple[str, str], int], cfg: BalanceConfig,
                synthetic_existing: dict[str, int] | None = None) -> Plan:
    """The plan from real counts per (split, class); InputError when the target is out of reach."""
    synthetic_existing = synthetic_existing or {}
    plan, short = Plan(cfg), []  # type: ignore[var-annotated]
    for split in SPLITS:
        for cls in CLASSES:
            row = PlanRow(split, cls, real.get((split, cls), 0))
            if split == "train" and cfg.target is not None:
                row.synthetic_existing = synthetic_existing.get(cls, 0)
                short += _fill(row, cfg)
            plan.rows.append(row)
    if short:
        need = max(n for _, n in short)
        reach = max_reachable(real, cfg) or 0
        fixes = [f"lower --target to {reach}" if reach else "add real images"]
        if need <= 1:
            fixes.append(f"raise --max-synthetic to {need:g}")
        raise InputError(
            f"--target {cfg.target} is out of reach with --max-augment {cfg.max_augment:g} "
            f"(copies per real image) and --max-synthetic {cfg.max_synthetic:g}: "
            + "; ".join(t for t, _ in short) + f" (< {cfg.target}); " + " or ".join(fixes))
    return plan


def _fill(row: PlanRow, cfg: BalanceConfig) -> list[tuple[str, float]]:
    target = cfg.target
    assert target is not None
    if row.real >= target:
        row.removed = row.real - target if cfg.undersample else 0
        return []
    deficit = target - row.real
    row.augmented = min(deficit, math.floor(cfg.max_augment * row.real))
    row.synthetic = min(deficit - row.augmented, math.floor(cfg.max_synthetic * target))
    return [] if row.final == target else [_infeasible(row.cls, row.real, cfg)]


def max_reachable(real: dict[tuple[str, str], int], cfg: BalanceConfig) -> int | None:
    """The largest target every train class can reach with these limits (None: unbounded)."""
    best: int | None = None
    for cls in CLASSES:
        reach = (r := real.get(("train", cls), 0)) + math.floor(cfg.max_augment * r)
        if cfg.max_synthetic >= 1:
            continue
        t = math.floor(reach / (1 - cfg.max_synthetic)) + 1
        while t > 0 and t - math.floor(cfg.max_synthetic * t) > reach:
            t -= 1
        best = t if best is None else min(best, t)
    return best


def rank(keys: Sequence[str], seed: int) -> list[int]:
    """Indices of `keys` in a seeded, stable order (each key's place depends on itself only)."""
    def h(k: str) -> bytes:
        return hashlib.sha256(f"{seed}\x1f{k}".encode()).digest()

    return sorted(range(len(keys)), key=lambda i: (h(keys[i]), keys[i]))


def choose_drops(keys: Sequence[str], groups: Sequence[str | None], n: int, seed: int) -> list[str]:
    """`n` keys to undersample: extra members of duplicate groups first, then a seeded choice."""
    if n <= 0:
        return []
    order = rank(keys, seed)
    seen: set[str] = set()
    extras, rest = [], []
    for i in order:
        g = groups[i]
        if g is not None and g in seen:
            extras.append(keys[i])
        else:
            rest.append(keys[i])
            if g is not None:
                seen.add(g)
    return (extras + rest)[:n]


def choose_parents(keys: Sequence[str], n: int, seed: int) -> list[tuple[str, int]]:
    """`n` (parent key, copy number) pairs spread evenly over the parents, seeded."""
    if n <= 0 or not keys:
        return []
    order = rank(keys, seed)
    return [(keys[order[i % len(keys)]], i // len(keys)) for i in range(n)]


def stratified_group_split(labels: Sequence[str], groups: Sequence[str],
                           fractions: dict[str, float], seed: int) -> list[str]:
    """A split name per sample, stratified by label, never splitting a group.

    Greedy: groups (largest first, then in seeded order) go to the split whose per-class counts
    are furthest below their share of the class totals.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    totals = Counter(labels)
    want = {s: {c: f * n for c, n in totals.items()} for s, f in fractions.items()}
    have = {s: Counter() for s in fractions}
    names = sorted(members)
    order = rank(names, seed)
    order.sort(key=lambda i: -len(members[names[i]]))  # stable: ties keep the seeded order
    out = [""] * len(labels)
    for gi in order:
        idx = members[names[gi]]
        counts = Counter(labels[i] for i in idx)
        split = max(fractions, key=lambda s: (sum(
            n * (want[s][c] - have[s][c]) / max(want[s][c], 1e-9) for c, n in counts.items()),
            fractions[s]))
        have[split].update(counts)
        for i in idx:
            out[i] = split
    return out
