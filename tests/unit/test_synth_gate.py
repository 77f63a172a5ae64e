"""The gate's decisions on given scores, pHash distances, and rendering on a real photo."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from augment.synth.dbio import _from_hex
from augment.synth.gate import (
    GateScores,
    GateSettings,
    decide,
    nearest,
    phashes,
    score_batch,
)
from augment.synth.render import TargetFormat, detect_faces, render, target_from_metadata
from curate.core.errors import InputError


def phash(img: np.ndarray) -> int:
    return int(phashes([img])[0])


def scores(**kw) -> GateScores:
    base = dict(face_found=True, face_score=0.9, ref_prob=0.8, ref_pred="fear", ref_pred_prob=0.8,
                phash="0" * 16, min_phash_distance=30, nearest_real_id="x", nsfw=None,
                max_pixel=255)
    return GateScores(**{**base, **kw})


def test_decide_each_reason():
    g = GateSettings(threshold=0.5, dup_radius=6)
    assert decide(scores(), g) == []
    assert decide(scores(face_found=False), g) == ["no_face"]
    assert decide(scores(ref_prob=0.49), g) == ["classifier_disagrees"]
    assert decide(scores(ref_prob=0.5), g) == []
    assert decide(scores(min_phash_distance=6), g) == ["near_duplicate"]
    assert decide(scores(min_phash_distance=7), g) == []
    assert decide(scores(nsfw=True), g) == ["blacked_out"]
    assert decide(scores(max_pixel=3), g) == ["blacked_out"]
    assert decide(scores(ref_prob=0.0), GateSettings(threshold=0.0)) == []
    with pytest.raises(InputError, match="--threshold 1.5"):
        GateSettings(threshold=1.5)


def test_hamming_nearest_and_hex():
    hashes = np.array([0b1111, 0xFFFF_FFFF_FFFF_FFFF, 0], dtype=np.uint64)
    assert nearest(hashes, 0b0111) == (1, 0)
    assert nearest(np.zeros(0, np.uint64), 5) == (64, -1)
    assert _from_hex("00000000000000ff") == 255 and _from_hex("FFFFFFFFFFFFFFFF") == 2**64 - 1
    assert _from_hex("ff") is None and _from_hex(None) is None and _from_hex("zz" * 8) is None


@pytest.mark.parametrize("shape", [(48, 48), (64, 40), (48, 48, 3), (100, 100, 3)])
def test_gate_phash_is_imagehash_phash_bit_for_bit(shape):
    """The gate hashes with curate.core.hashing: the same 64 bits, and the same 16 hex digits,
    as imagehash.phash (what earlier runs stored), on gray and RGB images."""
    import imagehash
    from PIL import Image

    from curate.core.hashing import to_hex

    rng = np.random.default_rng(sum(shape))
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(6)]
    images.append(np.full(shape, 200, np.uint8))  # flat: every DCT coefficient ties
    got = phashes(images)
    want = [str(imagehash.phash(Image.fromarray(img))) for img in images]
    assert to_hex(got) == want
    assert [int(w, 16) for w in want] == [int(h) for h in got]


def test_render_real_photo_to_fer_format_and_duplicate_hash():
    photo = data.astronaut()
    faces = detect_faces(photo)
    assert faces and faces[0].w > 60 and 0 < faces[0].score <= 1
    out, box = render(photo, TargetFormat(48, 48, 1))
    assert out.shape == (48, 48) and out.dtype == np.uint8 and box is not None
    out_rgb, _ = render(photo, TargetFormat(100, 100, 3))
    assert out_rgb.shape == (100, 100, 3)
    blank, box = render(np.zeros((64, 64, 3), np.uint8), TargetFormat(48, 48, 1))
    assert box is None and blank.shape == (48, 48)
    again, _ = render(photo.copy(), TargetFormat(48, 48, 1))
    assert phash(out) == phash(again)
    flipped, _ = render(np.ascontiguousarray(photo[:, ::-1]), TargetFormat(48, 48, 1))
    assert bin(phash(out) ^ phash(flipped)).count("1") > 6


def test_score_batch_records_every_score():
    img = np.full((48, 48), 128, np.uint8)
    h = phash(img)
    probs = np.array([[0.1, 0.2, 0.7, 0, 0, 0, 0]])
    classes = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    [s] = score_batch([(True, 0.5)], [img], ["disgust"], probs, classes, [False], [200],
                      np.array([h], np.uint64), ["real1"])
    assert (s.ref_prob, s.ref_pred, s.ref_pred_prob) == (0.2, "fear", 0.7)
    assert (s.min_phash_distance, s.nearest_real_id, s.nsfw) == (0, "real1", False)
    assert s.max_pixel == 200 and s.phash == f"{h:016x}" and len(s.phash) == 16


def test_target_from_metadata():
    t = target_from_metadata([48, 48, 100], [48, 48, 100], [1, 1, 3])
    assert t == TargetFormat(48, 48, 1)
    assert target_from_metadata([100], [100], [3], size=64) == TargetFormat(64, 64, 3)
