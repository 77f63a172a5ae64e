"""Render a generated image into the dataset's format: find the face, crop it with a margin,
convert to the dataset's channels and size (48x48 grayscale for FER-2013-style datasets).

Face detection is the project's one detector, OpenCV's Haar frontal-face cascade
(`curate.core.faces`): weak on tight crops, but on a generated portrait it finds the face
reliably.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from curate.core.faces import haar_cascade

MIN_DETECT_SIDE = 144  # small images (48 px FER crops) are upsampled before detection


@dataclass(frozen=True)
class TargetFormat:
    width: int
    height: int
    channels: int  # 1 (grayscale) or 3 (RGB)

    def describe(self) -> str:
        return f"{self.width}x{self.height} {'grayscale' if self.channels == 1 else 'RGB'}"


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int
    weight: float  # the cascade's level weight: larger = more confident

    @property
    def score(self) -> float:
        """The level weight mapped to [0, 1]."""
        return float(1.0 - math.exp(-max(self.weight, 0.0) / 2.0))


def target_from_metadata(widths: Sequence[int | None], heights: Sequence[int | None],
                         channels: Sequence[int | None], size: int | None = None) -> TargetFormat:
    """The most common (width, height, channels) of the real train samples; `size` overrides."""
    shapes = Counter((w, h, c) for w, h, c in zip(widths, heights, channels, strict=True)
                     if w and h and c)
    if shapes:
        (w, h, c), _ = shapes.most_common(1)[0]
    else:
        w, h, c = 512, 512, 3
    c = 1 if c == 1 else 3
    return TargetFormat(size or w, size or h, c)


def _gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    return np.asarray(Image.fromarray(img[..., :3]).convert("L"))


def detect_faces(img: np.ndarray) -> list[FaceBox]:
    """Faces in a uint8 gray or RGB image, largest first, in the image's own coordinates."""
    gray = _gray(img)
    scale = max(1.0, MIN_DETECT_SIDE / min(gray.shape))
    if scale > 1:
        h, w = gray.shape
        gray = np.asarray(Image.fromarray(gray).resize((round(w * scale), round(h * scale)),
                                                       Image.BICUBIC))
    side = min(gray.shape)
    boxes, _, weights = haar_cascade().detectMultiScale3(
        gray, scaleFactor=1.1, minNeighbors=5, minSize=(max(24, side // 5),) * 2,
        outputRejectLevels=True)
    out = [FaceBox(*(round(v / scale) for v in b), weight=float(wt))
           for b, wt in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(weights).ravel(),
                             strict=True)]
    return sorted(out, key=lambda b: -b.w * b.h)


def square_crop(img: np.ndarray, box: FaceBox | None, margin: float) -> np.ndarray:
    """A square around the face grown by `margin` per side, clamped; center square without one."""
    h, w = img.shape[:2]
    if box is None:
        s = min(h, w)
        x0, y0 = (w - s) // 2, (h - s) // 2
        return img[y0:y0 + s, x0:x0 + s]
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    s = min(max(box.w, box.h) * (1 + 2 * margin), h, w)
    x0 = int(round(min(max(cx - s / 2, 0), w - s)))
    y0 = int(round(min(max(cy - s / 2, 0), h - s)))
    s = int(round(s))
    return img[y0:y0 + s, x0:x0 + s]


def to_format(img: np.ndarray, target: TargetFormat) -> np.ndarray:
    """Resize (area filter) and convert channels: (H, W) for grayscale, (H, W, 3) for RGB."""
    im = Image.fromarray(img).convert("L" if target.channels == 1 else "RGB")
    if im.size != (target.width, target.height):
        im = im.resize((target.width, target.height), Image.BOX if im.width > target.width
                       else Image.BICUBIC)
    return np.asarray(im)


def render(img: np.ndarray, target: TargetFormat, margin: float = 0.2
           ) -> tuple[np.ndarray, FaceBox | None]:
    """Detect, crop and convert one generated image; returns (rendered, largest face or None)."""
    faces = detect_faces(img)
    box = faces[0] if faces else None
    return to_format(square_crop(img, box, margin), target), box
