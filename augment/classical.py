"""Classical augmentation for oversampling rare classes: the recipes the FER literature uses
(small rotation, shift, zoom, horizontal flip, brightness), seeded and described in words.

Pure: arrays in, arrays out. `augment(image, seed)` draws its parameters from its own seed, so
the same (image, seed) always gives the same output and the same description.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, kw_only=True)
class AugmentRecipe:
    """Ranges the random parameters are drawn from (uniform)."""

    max_rotation_deg: float = 15.0
    max_shift_frac: float = 0.1
    zoom_range: tuple[float, float] = (0.9, 1.1)
    flip_prob: float = 0.5
    brightness_range: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self) -> None:
        if not 0 <= self.max_rotation_deg <= 45:
            raise ValueError(f"max_rotation_deg must be in [0, 45], got {self.max_rotation_deg}")
        if not 0 <= self.max_shift_frac <= 0.3:
            raise ValueError(f"max_shift_frac must be in [0, 0.3], got {self.max_shift_frac}")
        if not 0 < self.zoom_range[0] <= self.zoom_range[1]:
            raise ValueError(f"zoom_range must be 0 < lo <= hi, got {self.zoom_range}")
        if not 0 <= self.flip_prob <= 1:
            raise ValueError(f"flip_prob must be in [0, 1], got {self.flip_prob}")
        if not 0 < self.brightness_range[0] <= self.brightness_range[1]:
            raise ValueError(f"brightness_range must be 0 < lo <= hi, got {self.brightness_range}")


@dataclass(frozen=True)
class Transform:
    """One drawn set of parameters."""

    rotation_deg: float
    shift: tuple[float, float]  # fractions of width, height
    zoom: float
    flip: bool
    brightness: float

    def describe(self) -> str:
        return (f"rotate={self.rotation_deg:+.1f}deg shift=({self.shift[0]:+.3f},"
                f"{self.shift[1]:+.3f}) zoom={self.zoom:.3f} flip={'h' if self.flip else 'none'} "
                f"brightness={self.brightness:.3f}")


def seed_for(*parts: object) -> int:
    """A stable 63-bit seed from any parts (the global seed, the parent's key, the copy number)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def draw(seed: int, recipe: AugmentRecipe = AugmentRecipe()) -> Transform:
    rng = np.random.default_rng(seed)
    return Transform(
        rotation_deg=float(rng.uniform(-recipe.max_rotation_deg, recipe.max_rotation_deg)),
        shift=(float(rng.uniform(-recipe.max_shift_frac, recipe.max_shift_frac)),
               float(rng.uniform(-recipe.max_shift_frac, recipe.max_shift_frac))),
        zoom=float(rng.uniform(*recipe.zoom_range)),
        flip=bool(rng.random() < recipe.flip_prob),
        brightness=float(rng.uniform(*recipe.brightness_range)),
    )


def apply(image: np.ndarray, t: Transform) -> np.ndarray:
    """Apply one transform to a uint8 image (H, W) or (H, W, C); same shape and dtype out."""
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise ValueError(f"expected a uint8 (H, W[, C]) image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), t.rotation_deg, t.zoom)
    m[0, 2] += t.shift[0] * w
    m[1, 2] += t.shift[1] * h
    out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)
    if out.ndim == 2 and image.ndim == 3:
        out = out[..., None]
    if t.flip:
        out = out[:, ::-1]
    out = np.clip(out.astype(np.float32) * t.brightness, 0, 255)
    return np.ascontiguousarray(np.rint(out).astype(np.uint8))


def augment(image: np.ndarray, seed: int,
            recipe: AugmentRecipe = AugmentRecipe()) -> tuple[np.ndarray, str]:
    """One augmented copy of `image` and the description of what was done to it."""
    t = draw(seed, recipe)
    return apply(image, t), t.describe()
