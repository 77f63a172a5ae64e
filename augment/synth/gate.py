"""The admission gate: measure, score, then decide, on arrays. No DB, no model loading.

Every image gets all scores (stored on the admitted sample or in the rejected image's JSON):
- a face is found (Haar cascade on the generated image; score from the cascade's level weight);
- the reference classifier's probability of the intended class >= `threshold`;
- the pHash Hamming distance to every real train/val/test image > `dup_radius` (no leakage);
- not blacked out: the safety checker did not flag it and the image is not all black.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from curate.core.errors import InputError

REASONS = ("no_face", "classifier_disagrees", "near_duplicate", "blacked_out")
HASH_HEX_LEN = 16  # imagehash.phash with hash_size=8: 64 bits


@dataclass(frozen=True)
class GateSettings:
    threshold: float = 0.4  # min reference probability of the intended class
    dup_radius: int = 6  # pHash Hamming distance <= radius = near-duplicate of a real image
    black_level: int = 8  # max pixel value <= this = an all-black image

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"--threshold {self.threshold} must be within 0..1")
        if not 0 <= self.dup_radius < 64:
            raise InputError(f"--dup-radius {self.dup_radius} must be within 0..63")


@dataclass(frozen=True)
class GateScores:
    face_found: bool
    face_score: float
    ref_prob: float  # reference probability of the intended class
    ref_pred: str  # the reference classifier's top class
    ref_pred_prob: float
    phash: str
    min_phash_distance: int  # to the nearest real image (64 when there are none)
    nearest_real_id: str | None
    nsfw: bool | None  # None: the pipeline has no safety checker
    max_pixel: int

    def to_dict(self) -> dict:
        return asdict(self)


def decide(s: GateScores, settings: GateSettings) -> list[str]:
    """The reasons an image is rejected (empty = admitted)."""
    reasons = []
    if not s.face_found:
        reasons.append("no_face")
    if s.ref_prob < settings.threshold:
        reasons.append("classifier_disagrees")
    if s.min_phash_distance <= settings.dup_radius:
        reasons.append("near_duplicate")
    if s.nsfw or s.max_pixel <= settings.black_level:
        reasons.append("blacked_out")
    return reasons


def phash(img: np.ndarray) -> int:
    """64-bit perceptual hash (imagehash.phash) of a uint8 image, as an int."""
    import imagehash

    bits = imagehash.phash(Image.fromarray(img)).hash.ravel()
    return int("".join("1" if b else "0" for b in bits), 2)


def hex_to_int(value: str | None) -> int | None:
    """A stored `phash` hex string (16 hex digits) as an int; None when absent or another size."""
    if not isinstance(value, str) or len(value) != HASH_HEX_LEN:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def nearest(hashes: np.ndarray, query: int) -> tuple[int, int]:
    """(min Hamming distance, index) of `query` against uint64 `hashes`; (64, -1) when empty."""
    if hashes.size == 0:
        return 64, -1
    d = np.bitwise_count(hashes ^ np.uint64(query))
    i = int(np.argmin(d))
    return int(d[i]), i


def score_batch(faces: Sequence[tuple[bool, float]], rendered: Sequence[np.ndarray],
                intended: Sequence[str], probs: np.ndarray, ref_classes: Sequence[str],
                nsfw: Sequence[bool | None], raw_max: Sequence[int],
                real_hashes: np.ndarray, real_ids: Sequence[str]) -> list[GateScores]:
    """Scores of a batch: `probs` is the reference's (N, C) output on the rendered images."""
    col = {c: k for k, c in enumerate(ref_classes)}
    out = []
    for k, img in enumerate(rendered):
        h = phash(img)
        dist, j = nearest(real_hashes, h)
        top = int(np.argmax(probs[k]))
        out.append(GateScores(
            face_found=bool(faces[k][0]), face_score=round(float(faces[k][1]), 4),
            ref_prob=round(float(probs[k][col[intended[k]]]), 4), ref_pred=ref_classes[top],
            ref_pred_prob=round(float(probs[k][top]), 4), phash=f"{h:016x}",
            min_phash_distance=dist, nearest_real_id=real_ids[j] if j >= 0 else None,
            nsfw=nsfw[k], max_pixel=int(raw_max[k])))
    return out
