"""Exact and near duplicates, leakage across splits and conflicting labels: arrays in, arrays out.

Exact duplicates share a digest of their decoded pixels. Near duplicates have pHashes within a
Hamming radius: the distinct hashes are compared all-pairs in blocks (XOR + popcount over
uint64, about 0.6 G pairs for FER-2013, a few seconds; above INDEX_MIN distinct hashes through
an exact multi-index, as all-pairs grows as n^2), and the pairs are grouped into connected
components (`connected_groups`, also the grouping of `curate.clean.features`), so an exact group
is always inside one near group. `score` is the check: an `IssueTable` of the group ids and the
duplicate / leak / conflict flags of the near groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curate.core import hashing, schema
from curate.core.errors import InputError
from curate.core.issues import Column, IssueTable, Stat

BLOCK = 1024
MAX_RADIUS = 16
DEFAULT_RADIUS = 4
INDEX_MIN = 50_000  # distinct hashes above which the pairs come from the multi-index
INDEX_MAX_RADIUS = 5  # (its fields are >= 10 bits up to radius 5; narrower ones hold big buckets)
HASH = "phash8-pixelblake2b"  # what the groups are computed from (part of the fingerprint)


def exact_groups(digests: Sequence[bytes | None]) -> np.ndarray:
    """Group id per item (members of groups of size > 1), -1 for singletons and None.

    Groups are numbered in the order of their first member.
    """
    first: dict[bytes, int] = {}
    counts: dict[bytes, int] = {}
    for i, d in enumerate(digests):
        if d is not None:
            first.setdefault(d, i)
            counts[d] = counts.get(d, 0) + 1
    out = np.full(len(digests), -1, dtype=np.int64)
    ids: dict[bytes, int] = {}
    for d, _ in sorted(first.items(), key=lambda kv: kv[1]):
        if counts[d] > 1:
            ids[d] = len(ids)
    for i, d in enumerate(digests):
        if d is not None and d in ids:
            out[i] = ids[d]
    return out


def hamming_pairs(hashes: np.ndarray, radius: int,
                  block: int = BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """All pairs i < j of a uint64 array with popcount(h[i] ^ h[j]) <= radius, sorted by (i, j).

    All-pairs up to INDEX_MIN hashes (or for radii above INDEX_MAX_RADIUS); above, the same pairs
    through a multi-index (`_indexed_pairs`), since all-pairs grows as n^2."""
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"radius must be in 0..{MAX_RADIUS}, got {radius}")
    h = np.ascontiguousarray(hashes, dtype=np.uint64)
    if len(h) > INDEX_MIN and radius <= INDEX_MAX_RADIUS:
        return _indexed_pairs(h, radius, block)
    return _all_pairs(h, radius, block)


def _all_pairs(h: np.ndarray, radius: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = [], []
    for s in range(0, len(h), block):
        e = min(s + block, len(h))
        dist = np.bitwise_count(h[s:e, None] ^ h[None, s:])  # (e - s, n - s)
        i, j = np.nonzero(dist <= radius)
        keep = j > i  # j is offset by s, i by s: upper triangle of this block
        rows.append(i[keep] + s)
        cols.append(j[keep] + s)
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def _indexed_pairs(h: np.ndarray, radius: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """The pigeonhole multi-index (Norouzi et al., "Fast search in Hamming space with
    multi-index hashing", CVPR 2012): cut the 64 bits into radius + 1 fields; two hashes within
    `radius` bits agree exactly on at least one field. So the pairs are those of each field's
    buckets (hashes equal on that field), checked all-pairs within the bucket, deduplicated.
    Exact: the same pairs as all-pairs."""
    n, fields = len(h), radius + 1
    bounds = np.linspace(0, 64, fields + 1).round().astype(int)
    keys: list[np.ndarray] = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        v = (h >> np.uint64(lo)) & np.uint64((1 << int(hi - lo)) - 1)
        order = np.argsort(v, kind="stable")  # members of a bucket in ascending index
        cuts = np.flatnonzero(np.diff(v[order])) + 1
        for idx in np.split(order, cuts):
            if len(idx) > 1:
                a, b = _all_pairs(h[idx], radius, block)
                keys.append(idx[a].astype(np.int64) * n + idx[b])
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    key = np.unique(np.concatenate(keys))
    return key // n, key % n


def connected_groups(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Group id per node of the graph of n nodes with edges (a[k], b[k]): its connected
    component, numbered 0, 1, ... in the order of their first member; -1 for a node without
    any other node in its component."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    labels = connected_components(graph, directed=False)[1]
    _, first, inverse, counts = np.unique(labels, return_index=True, return_inverse=True,
                                          return_counts=True)
    order = np.argsort(first)
    new_id = np.full(len(first), -1, dtype=np.int64)
    multi = order[counts[order] > 1]
    new_id[multi] = np.arange(len(multi))
    return new_id[inverse]


def near_groups(hashes: np.ndarray, valid: np.ndarray, radius: int) -> np.ndarray:
    """Group id per item: pHashes within `radius` bits, transitively; -1 for singletons."""
    idx = np.flatnonzero(valid)
    uniq, first, inverse = np.unique(hashes[idx], return_index=True, return_inverse=True)
    a, b = hamming_pairs(uniq, radius)
    rep = idx[first]  # one item per distinct hash; every item is joined to its hash's one
    return connected_groups(len(hashes), np.concatenate([rep[a], idx]),
                            np.concatenate([rep[b], rep[inverse.ravel()]]))


@dataclass
class GroupFlags:
    """Per-item masks: in a group of size > 1, in one spanning splits, in a mixed-label one."""

    duplicate: np.ndarray
    leak: np.ndarray
    conflict: np.ndarray
    groups: int
    leak_groups: int
    conflict_groups: int
    cross_source_groups: int


def _group_spread(groups: np.ndarray, values: Sequence[object]) -> np.ndarray:
    """Per group id: does it hold more than one distinct value (None counts as a value)?"""
    n = int(groups.max()) + 1 if len(groups) and groups.max() >= 0 else 0
    seen: list[set] = [set() for _ in range(n)]
    for g, v in zip(groups.tolist(), values):
        if g >= 0:
            seen[g].add(v)
    return np.array([len(s) > 1 for s in seen], dtype=bool)


def group_flags(groups: np.ndarray, splits: Sequence[str], labels: Sequence[str | None],
                sources: Sequence[str] | None = None) -> GroupFlags:
    """Flags of items in duplicate groups; leak = spans splits, conflict = differing labels."""
    member = groups >= 0
    multi_split = _group_spread(groups, splits)
    multi_label = _group_spread(groups, labels)
    multi_source = _group_spread(groups, sources) if sources is not None else \
        np.zeros(len(multi_split), dtype=bool)
    safe = np.where(member, groups, 0)
    leak = member & multi_split[safe] if len(multi_split) else np.zeros_like(member)
    conflict = member & multi_label[safe] if len(multi_label) else np.zeros_like(member)
    return GroupFlags(member, leak, conflict, len(multi_split), int(multi_split.sum()),
                      int(multi_label.sum()), int(multi_source.sum()))


@dataclass(frozen=True)
class DuplicateInputs:
    """What the duplicate check reads, aligned with `ids`: pixel digests and pHashes (None /
    anything where the image was unreadable), splits, labels and sources."""

    ids: list[str]
    digests: Sequence[bytes | None]
    phashes: np.ndarray
    splits: Sequence[str]
    labels: Sequence[str | None]
    sources: Sequence[str]


def _group_stats(prefix: str, f: GroupFlags) -> dict[str, Stat]:
    return {f"{prefix}_groups": f.groups, f"{prefix}_rows": int(f.duplicate.sum()),
            f"{prefix}_cross_split_groups": f.leak_groups,
            f"{prefix}_conflict_groups": f.conflict_groups,
            f"{prefix}_cross_source_groups": f.cross_source_groups}


def _ids_or_none(groups: np.ndarray) -> list[int | None]:
    return [g if g >= 0 else None for g in groups.tolist()]


def score(data: DuplicateInputs, *, radius: int = DEFAULT_RADIUS) -> IssueTable:
    """Exact and near groups; duplicate / leak / conflict flags from the near groups (which
    hold the exact ones). Columns: phash, dup_group (near), exact_group."""
    if not 0 <= radius <= MAX_RADIUS:
        raise InputError(f"--radius {radius}: must be in 0..{MAX_RADIUS} bits")
    ok = np.array([d is not None for d in data.digests], dtype=bool)
    exact = exact_groups(data.digests)
    near = near_groups(np.asarray(data.phashes, np.uint64), ok, radius)
    ef = group_flags(exact, data.splits, data.labels, data.sources)
    nf = group_flags(near, data.splits, data.labels, data.sources)
    hexes = hashing.to_hex(np.asarray(data.phashes, np.uint64))
    columns = {
        schema.PHASH: Column("str", [h if k else None for h, k in zip(hexes, ok.tolist())]),
        schema.DUP_GROUP: Column("int", _ids_or_none(near)),
        schema.EXACT_GROUP: Column("int", _ids_or_none(exact)),
    }
    stats: dict[str, Stat] = {"images": len(data.ids), "unreadable": int((~ok).sum()),
                              "radius": radius, **_group_stats("exact", ef),
                              **_group_stats("near", nf)}
    return IssueTable("duplicates", list(data.ids), columns,
                      {"duplicate": nf.duplicate, "leak": nf.leak, "conflict": nf.conflict},
                      stats)
