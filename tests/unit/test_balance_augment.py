"""Classical augmentation: seeded, shape-preserving, described."""

from __future__ import annotations

import numpy as np
import pytest

from augment.classical import AugmentRecipe, Transform, apply, augment, seed_for


def test_same_seed_same_image_and_description():
    img = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    a, da = augment(img, seed_for(0, "fer2013/1", 0))
    b, db = augment(img, seed_for(0, "fer2013/1", 0))
    c, dc = augment(img, seed_for(0, "fer2013/1", 1))
    assert np.array_equal(a, b) and da == db
    assert not np.array_equal(a, c) and da != dc
    assert a.shape == img.shape and a.dtype == np.uint8
    for word in ("rotate=", "shift=", "zoom=", "flip=", "brightness="):
        assert word in da


def test_rgb_and_identity():
    img = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    ident = Transform(0.0, (0.0, 0.0), 1.0, False, 1.0)
    assert np.array_equal(apply(img, ident), img)
    flipped = apply(img, Transform(0.0, (0.0, 0.0), 1.0, True, 1.0))
    assert np.array_equal(flipped, img[:, ::-1])
    assert augment(img, 3)[0].shape == (20, 30, 3)


def test_bad_inputs():
    with pytest.raises(ValueError):
        apply(np.zeros((4, 4), np.float32), Transform(0, (0, 0), 1, False, 1))
    with pytest.raises(ValueError):
        AugmentRecipe(max_rotation_deg=90)
