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

from curate.core import hashing
from curate.core.errors import InputError

REASONS = ("no_face", "classifier_disagrees", "near_duplicate", "blacked_out")


@dataclass(frozen=True, kw_only=True)
class GateSettings:
    threshold: float = 0.4  # min reference probability of the intended class
    dup_radius: int = 6  # pHash Hamming distance <= radius = near-duplicate of a real image
    black_level: int = 8  # max pixel value <= this = an all-black image

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise InputError(f"--threshold {self.threshold} must be within 0..1")
        if not 0 <= self.dup_radius < 64:
            raise InputError(f"--dup-radius {self.dup_radius} must be within 0..63")


@dataclass(frozen=True, kw_only=True)
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


def phashes(images: Sequence[np.ndarray]) -> np.ndarray:
    """uint64 pHash of uint8 gray (H, W) or RGB (H, W, 3) images: `curate.core.hashing`'s, the
    one `curate clean` stores (imagehash.phash's bits), after Pillow's grayscale conversion."""
    gray = [img if img.ndim == 2 else np.asarray(Image.fromarray(img).convert("L"))
            for img in images]
    return hashing.phash_many(gray)


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
    hashes = phashes(rendered)
    out = []
    for k, (h, hex_h) in enumerate(zip(hashes, hashing.to_hex(hashes), strict=True)):
        dist, j = nearest(real_hashes, int(h))
        top = int(np.argmax(probs[k]))
        out.append(GateScores(
            face_found=bool(faces[k][0]), face_score=round(float(faces[k][1]), 4),
            ref_prob=round(float(probs[k][col[intended[k]]]), 4), ref_pred=ref_classes[top],
            ref_pred_prob=round(float(probs[k][top]), 4), phash=hex_h,
            min_phash_distance=dist, nearest_real_id=real_ids[j] if j >= 0 else None,
            nsfw=nsfw[k], max_pixel=int(raw_max[k])))
    return out
