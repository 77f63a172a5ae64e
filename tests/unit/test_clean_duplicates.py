"""Exact and near duplicate groups, leakage and conflicts on planted synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean import duplicates
from curate.core import hashing
from curate.core.errors import InputError


def _face(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, size=(12, 12), dtype=np.uint8)
    return np.kron(base, np.ones((4, 4), np.uint8))


def test_planted_exact_and_near_duplicates_are_grouped():
    imgs = [_face(i) for i in range(20)]
    imgs.append(imgs[3].copy())                        # 20: exact copy of 3
    imgs.append(imgs[3].copy())                        # 21: exact copy of 3
    noisy = imgs[7].astype(int) + np.random.default_rng(9).integers(-3, 4, imgs[7].shape)
    imgs.append(np.clip(noisy, 0, 255).astype(np.uint8))  # 22: near copy of 7
    imgs.append(None)                                  # 23: unreadable
    digests = [hashing.pixel_digest(im) if im is not None else None for im in imgs]
    exact = duplicates.exact_groups(digests)
    assert exact[3] == exact[20] == exact[21] == 0
    assert (exact >= 0).sum() == 3 and exact[23] == -1
    hashes = hashing.phash_many(imgs)
    valid = np.array([im is not None for im in imgs])
    near = duplicates.near_groups(hashes, valid, radius=4)
    assert near[3] == near[20] == near[21] >= 0
    assert near[7] == near[22] >= 0 and near[7] != near[3]
    assert (near >= 0).sum() == 5 and near[23] == -1
    assert (duplicates.near_groups(hashes, valid, radius=0) >= 0).sum() == 3


def test_hamming_pairs_matches_brute_force():
    rng = np.random.default_rng(3)
    base = rng.integers(0, 2**63, size=50, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, size=50).astype(np.uint64)
    h = np.concatenate([base, base ^ flips])
    a, b = duplicates.hamming_pairs(h, 2, block=7)
    got = set(zip(a.tolist(), b.tolist()))
    want = {(i, j) for i in range(len(h)) for j in range(i + 1, len(h))
            if bin(int(h[i]) ^ int(h[j])).count("1") <= 2}
    assert got == want and len(want) >= 50
    with pytest.raises(ValueError):
        duplicates.hamming_pairs(h, 65)


@pytest.mark.parametrize("radius", [0, 1, 4, 5])
def test_the_multi_index_finds_exactly_the_all_pairs_pairs(monkeypatch, radius):
    """Above INDEX_MIN hashes the pairs come from the pigeonhole multi-index: the same pairs, in
    the same order, as all-pairs, including pairs at exactly `radius` bits and clustered hashes
    (few distinct values in the low bits, as pHashes of faces are)."""
    rng = np.random.default_rng(radius)
    base = rng.integers(0, 2**63, size=300, dtype=np.uint64)
    base[:100] &= np.uint64(0xFFFFFFFFFFFF0000)  # a cluster sharing its low field
    near = base.copy()
    for i in range(len(near)):  # flip exactly `radius` distinct bits
        for bit in rng.choice(64, size=radius, replace=False):
            near[i] ^= np.uint64(1) << np.uint64(bit)
    h = np.concatenate([base, near, rng.integers(0, 2**63, size=200, dtype=np.uint64)])
    want = duplicates.hamming_pairs(h, radius)  # 800 hashes: all-pairs
    monkeypatch.setattr(duplicates, "INDEX_MIN", 10)
    got = duplicates.hamming_pairs(h, radius, block=64)
    assert len(want[0]) >= 300
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[0].dtype == want[0].dtype == np.int64


def test_leak_and_conflict_flags():
    groups = np.array([0, 0, 1, 1, 2, 2, -1])
    splits = ["train", "test", "train", "train", "train", "val", "test"]
    labels = ["happy", "happy", "sad", "angry", "fear", "fear", "sad"]
    sources = ["fer2013", "fer2013", "fer2013", "rafdb", "fer2013", "fer2013", "fer2013"]
    f = duplicates.group_flags(groups, splits, labels, sources)
    assert f.duplicate.tolist() == [True] * 6 + [False]
    assert f.leak.tolist() == [True, True, False, False, True, True, False]
    assert f.conflict.tolist() == [False, False, True, True, False, False, False]
    assert (f.groups, f.leak_groups, f.conflict_groups, f.cross_source_groups) == (3, 2, 1, 1)


def test_no_groups():
    f = duplicates.group_flags(np.array([-1, -1]), ["a", "b"], ["x", "y"])
    assert f.groups == 0 and not f.leak.any()
    assert (duplicates.exact_groups([b"a", b"b", None]) == -1).all()


def test_connected_groups_numbers_multi_member_components_by_first_member():
    a, b = np.array([5, 1, 3, 7]), np.array([6, 3, 1, 7])  # {1, 3}, {5, 6}; 7 only to itself
    groups = duplicates.connected_groups(9, a, b)
    assert groups.tolist() == [-1, 0, -1, 0, -1, 1, 1, -1, -1]
    assert duplicates.connected_groups(0, a[:0], b[:0]).tolist() == []
    assert (duplicates.connected_groups(3, a[:0], b[:0]) == -1).all()


def test_score_is_a_table_of_groups_and_flags():
    imgs = [_face(i) for i in range(6)]
    imgs += [imgs[0].copy(), imgs[1].copy(), None]  # 6: copy of 0 (test), 7: of 1 (other label)
    digests = [hashing.pixel_digest(im) if im is not None else None for im in imgs]
    data = duplicates.DuplicateInputs(
        ids=[f"s{i}" for i in range(9)], digests=digests, phashes=hashing.phash_many(imgs),
        splits=["train"] * 6 + ["test", "train", "train"],
        labels=["happy", "sad", "fear", "fear", "fear", "fear", "happy", "angry", "fear"],
        sources=["fer2013"] * 9)
    table = duplicates.score(data, radius=0)
    assert table.check == "duplicates" and set(table.flags) == {"duplicate", "leak", "conflict"}
    assert table.columns["exact_group"].values == [0, 1, None, None, None, None, 0, 1, None]
    assert table.columns["dup_group"].values[:2] == [0, 1]
    assert table.columns["phash"].values[8] is None and len(table.columns["phash"].values[0]) == 16
    assert table.flagged("duplicate") == ["s0", "s1", "s6", "s7"]
    assert table.flagged("leak") == ["s0", "s6"] and table.flagged("conflict") == ["s1", "s7"]
    assert table.stats["exact_groups"] == 2 and table.stats["unreadable"] == 1
    assert table.stats["radius"] == 0 and table.stats["exact_cross_split_groups"] == 1
    with pytest.raises(InputError, match="--radius 17"):
        duplicates.score(data, radius=17)
