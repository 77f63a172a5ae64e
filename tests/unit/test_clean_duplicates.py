"""Exact and near duplicate groups, leakage and conflicts on planted synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from curate.clean import duplicates
from curate.core import hashing


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
