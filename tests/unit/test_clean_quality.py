"""Quality measures, scores and flags on planted synthetic images with known answers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from curate.clean import quality
from curate.core.errors import InputError


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
    with pytest.raises(InputError, match="--dark-threshold 1.5"):
        quality.QualityConfig(dark_threshold=1.5)
    with pytest.raises(InputError, match="--fast-face-entropy 9"):
        quality.QualityConfig(fast_face_entropy=9.0)


def _planted() -> tuple[list[str], list[np.ndarray | None]]:
    normal = [_natural(s) for s in range(6)]
    shades = [(normal[s] * f).astype(np.uint8) for s, f in ((0, 0.2), (1, 0.3), (2, 0.45))]
    images = [*normal, np.full((48, 48), 120, np.uint8), *shades, None,
              np.zeros((96, 96), np.uint8)]  # a blank at another size
    return [f"s{i}" for i in range(len(images))], images


def test_score_is_a_table_with_measures_reasons_and_flags():
    ids, images = _planted()
    table = quality.score(ids, images, quality.QualityConfig())
    assert table.check == "quality" and table.ids == ids
    assert set(table.flags) == set(quality.KINDS)
    assert {"quality_brightness", "quality_entropy", "dark_score", "face_score",
            "quality_reasons"} <= set(table.columns)
    unread = ids.index("s10")
    assert table.columns["quality_reasons"].values[unread] is None
    assert table.columns["dark_score"].values[unread] is None
    assert not any(m[unread] for m in table.flags.values())
    assert table.columns["quality_reasons"].values[0] == []
    assert table.columns["quality_reasons"].values[6][0].startswith("lowinfo")
    assert table.flags["lowinfo"][[6, 11]].all() and table.flags["dark"][7]
    assert table.stats == {"images": 12, "unreadable": 1, "faces_checked": 11}
    assert table.counts()["issue:lowinfo"] == int(table.flags["lowinfo"].sum())


def test_thresholds_reach_the_flags():
    ids, images = _planted()
    cfg = quality.QualityConfig(face=False)
    default = quality.score(ids, images, cfg).flags["dark"]
    strict = quality.score(ids, images, quality.QualityConfig(face=False, dark_threshold=0.99))
    loose = quality.score(ids, images, quality.QualityConfig(face=False, dark_threshold=0.3))
    assert strict.flags["dark"].sum() < default.sum() < loose.flags["dark"].sum()
    assert quality.score(ids, images, quality.QualityConfig(
        face=False, lowinfo_threshold=1.0)).flags["lowinfo"].sum() == 2  # only the blanks


def test_clean_options_reach_the_quality_config_and_the_fast_gate():
    from curate.clean import CleanConfig
    from curate.core.options import build

    q = build(CleanConfig, {"checks": ("quality",), "dark_threshold": 0.9,
                            "nonface_threshold": 0.1}).quality
    assert (q.dark_threshold, q.nonface_threshold, q.entropy_gate) == (0.9, 0.1, None)
    fast = build(CleanConfig, {"checks": ("quality",), "fast": True,
                               "fast_face_entropy": 5.5}).quality
    assert fast.entropy_gate == 5.5
    # built directly, --fast still reaches the check (one option, passed down)
    assert CleanConfig(fast=True).quality.entropy_gate == quality.FAST_FACE_ENTROPY
    assert CleanConfig(fast=True).labels.resolved("epochs") == 2
    ent = np.array([4.0, 5.0, 6.0, 7.0])
    assert quality.face_candidates(ent, fast).tolist() == [0, 1]
    assert quality.face_candidates(ent, q).tolist() == [0, 1, 2, 3]
    with pytest.raises(InputError, match="--light-threshold -0.1"):
        build(CleanConfig, {"checks": ("quality",), "light_threshold": -0.1})
    with pytest.raises(TypeError):
        CleanConfig("fer")  # keyword arguments only


def test_measures_in_chunks_equal_the_measures_of_the_whole_batch(monkeypatch):
    """The pixel measures run in chunks (bounded memory at 1M images): chunking changes nothing."""
    rng = np.random.default_rng(1)
    batch = np.stack([_natural(s) for s in range(7)]
                     + [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(6)])
    batch[3] = 90  # a flat image among them
    cfg = quality.QualityConfig(face=False)
    whole = quality.measure(batch, cfg)
    monkeypatch.setattr(quality, "MEASURE_CHUNK", 4)  # 13 images: chunks of 4, 4, 4, 1
    chunked = quality.measure(batch, cfg)
    for name in ("brightness", "contrast", "entropy", "laplacian_var"):
        assert np.array_equal(getattr(whole, name), getattr(chunked, name)), name
    for kind, score in whole.scores.items():
        assert np.array_equal(score, chunked.scores[kind]), kind
