"""Quality measures, scores and flags on planted synthetic images with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from curate.clean import quality


def _natural(seed: int) -> np.ndarray:
    """A textured mid-grey image: smooth gradients plus detail (no flag expected)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:48, 0:48]
    img = 128 + 50 * np.sin(x / 5.0 + seed) * np.cos(y / 7.0) + rng.normal(0, 25, (48, 48))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_planted_blank_dark_light_and_blurry_images_are_flagged():
    normal = [_natural(s) for s in range(6)]
    blank = np.full((48, 48), 120, np.uint8)
    dark = (normal[0] * 0.2).astype(np.uint8)
    light = (255 - (255 - normal[1].astype(float)) * 0.2).astype(np.uint8)
    blurry = cv2.GaussianBlur(normal[2], (0, 0), 4)
    batch = np.stack(normal + [blank, dark, light, blurry])
    cfg = quality.QualityConfig(face=False)
    m = quality.measure(batch, cfg)
    fl = quality.flags(m, cfg)
    assert not any(fl[k][:6].any() for k in fl)
    assert fl["lowinfo"][6] and m.entropy[6] == 0 and m.scores["lowinfo"][6] == 1.0
    assert fl["dark"][7] and not fl["light"][7]
    assert fl["light"][8] and not fl["dark"][8]
    assert fl["blurry"][9] and not fl["lowinfo"][9]
    assert m.laplacian_var[6] == 0.0
    for s in m.scores.values():
        assert ((s >= 0) & (s <= 1)).all()
    assert "lowinfo: entropy 0.00 bits" in quality.reasons(m, fl, 6)


def test_face_score_combines_detector_and_entropy():
    w = np.array([5.0, -np.inf, -np.inf, -1.0])
    ent = np.array([7.5, 7.5, 3.0, 7.5])
    s = quality.face_scores(w, ent)
    assert s[0] > 0.9 and s[1] == 0.5 and s[2] == 0.0 and 0.5 < s[3] < 0.75
    m = quality.Measures(np.zeros(4), np.zeros(4), ent, np.ones(4), s,
                         {k: np.zeros(4) for k in ("lowinfo", "dark", "light", "blurry")})
    assert quality.flags(m, quality.QualityConfig()).get("nonface").tolist() == \
        [False, False, True, False]


def test_haar_runs_on_a_blank_image_without_finding_a_face():
    w = quality.haar_weights(np.zeros((2, 48, 48), np.uint8))
    assert np.isneginf(w).all()


def test_entropy_and_resize():
    two = np.zeros((1, 48, 48), np.uint8)
    two[0, :24] = 255
    assert quality.entropy_bits(two)[0] == pytest.approx(1.0)
    out = quality.to_side([np.zeros((100, 100), np.uint8), np.zeros((48, 48), np.uint8)])
    assert out.shape == (2, 48, 48)
    with pytest.raises(ValueError):
        quality.QualityConfig(dark=1.5)
