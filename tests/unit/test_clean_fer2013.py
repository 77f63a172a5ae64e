"""The shared FER-2013's known duplicate structure, found by the exact grouping (100% recall)."""

from __future__ import annotations

import csv
import gzip

import imagehash
import numpy as np
import pytest
from PIL import Image

from curate.clean import duplicates
from curate.core import hashing
from curate.core.taxonomy import FER2013_USAGE


@pytest.mark.fer2013
def test_fer2013_exact_groups_leaks_and_conflicts(fer_csv_real):
    with gzip.open(fer_csv_real, "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    images = [np.array(r["pixels"].split(), dtype=np.uint8).reshape(48, 48) for r in rows]
    exact = duplicates.exact_groups([hashing.pixel_digest(im) for im in images])
    flags = duplicates.group_flags(exact, [FER2013_USAGE[r["Usage"]] for r in rows],
                                   [r["emotion"] for r in rows])
    assert (flags.groups, int(flags.duplicate.sum())) == (1504, 3329)
    assert (flags.leak_groups, flags.conflict_groups) == (555, 20)
    # the byte-level grouping of the CSV pixel strings is the same partition
    by_text: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_text.setdefault(r["pixels"], []).append(i)
    text_groups = sorted(tuple(v) for v in by_text.values() if len(v) > 1)
    mine: dict[int, list[int]] = {}
    for i, g in enumerate(exact.tolist()):
        if g >= 0:
            mine.setdefault(g, []).append(i)
    assert sorted(tuple(v) for v in mine.values()) == text_groups
    # pHash identical to imagehash on a sample, and exact groups share one pHash
    sample = np.random.default_rng(0).choice(len(images), 300, replace=False)
    hashes = hashing.phash_many(images)
    assert hashing.to_hex(hashes[sample]) == [str(imagehash.phash(Image.fromarray(images[i])))
                                              for i in sample]
    near = duplicates.near_groups(hashes, np.ones(len(images), bool), radius=4)
    for members in mine.values():
        assert len(set(near[members].tolist())) == 1 and near[members[0]] >= 0
