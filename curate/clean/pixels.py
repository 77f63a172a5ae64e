"""Read many images as grayscale uint8 arrays, once, for every check of `curate clean`.

8-bit grayscale PNGs (every FER-2013 sample) are decoded with OpenCV, which is lossless and
gives the same pixels as Pillow at a fraction of its per-file overhead; anything else goes
through Pillow's `convert("L")`, the conversion imagehash applies. A file that is missing or
unreadable becomes `None` with a reason: counted and reported, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from curate.clean.hashing import pixel_digest
from curate.imageio import BadImage, read_gray

log = logging.getLogger(__name__)
CHUNK = 1024


@dataclass
class Pixels:
    """Grayscale arrays aligned with the sample ids they were read for, with their pixel digests
    (`hashing.pixel_digest`, None where unreadable)."""

    ids: list[str]
    images: list[np.ndarray | None]
    digests: list[bytes | None]
    errors: dict[int, str] = field(default_factory=dict)  # position -> reason

    @property
    def ok(self) -> np.ndarray:
        return np.array([im is not None for im in self.images], dtype=bool)


def _read_one(path: str) -> np.ndarray | str:
    import cv2

    if path.lower().endswith(".png"):
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if img is not None and img.ndim == 2 and img.dtype == np.uint8:
            return img
    try:
        return read_gray(path)
    except FileNotFoundError:
        return "file not found"
    except (BadImage, OSError, SyntaxError, ValueError) as e:
        return f"unreadable image ({e})"


def _read_chunk(paths: Sequence[str]) -> list[tuple[np.ndarray, bytes] | str]:
    """Decode and digest in the worker thread (blake2b releases the GIL on 2 KB+ buffers)."""
    out: list[tuple[np.ndarray, bytes] | str] = []
    for p in paths:
        img = _read_one(p)
        out.append(img if isinstance(img, str) else (img, pixel_digest(img)))
    return out


def load_pixels(ids: Sequence[str], paths: Sequence[str], *, workers: int = 2,
                tick: Callable[[int], None] | None = None) -> Pixels:
    """Decode and digest every path (threads: OpenCV, Pillow and hashlib release the GIL)."""
    chunks = [list(paths[i:i + CHUNK]) for i in range(0, len(paths), CHUNK)]
    images: list[np.ndarray | None] = []
    digests: list[bytes | None] = []
    errors: dict[int, str] = {}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for part in pool.map(_read_chunk, chunks):
            for item in part:
                if isinstance(item, str):
                    errors[len(images)] = item
                    images.append(None)
                    digests.append(None)
                else:
                    images.append(item[0])
                    digests.append(item[1])
            if tick:
                tick(len(part))
    if errors:
        log.warning("%d of %d images could not be read", len(errors), len(paths))
    return Pixels(list(ids), images, digests, errors)
