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

from curate.core.hashing import phash_many, pixel_digest
from curate.core.imageio import BadImage, read_gray

log = logging.getLogger(__name__)
CHUNK = 1024  # files per worker task


@dataclass
class Pixels:
    """Grayscale arrays aligned with the sample ids they were read for, with their pixel digests
    (`hashing.pixel_digest`, None where unreadable) and, when asked for, their pHashes (0 where
    unreadable)."""

    ids: list[str]
    images: list[np.ndarray | None]
    digests: list[bytes | None]
    errors: dict[int, str] = field(default_factory=dict)  # position -> reason
    phashes: np.ndarray | None = None

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


@dataclass
class _Chunk:
    images: list[np.ndarray | None]
    digests: list[bytes | None]
    errors: dict[int, str]  # position in the chunk -> reason
    phashes: np.ndarray | None


def _read_chunk(paths: Sequence[str], phash: bool) -> _Chunk:
    """Decode, digest and (optionally) pHash in the worker thread: OpenCV, blake2b (2 KB+
    buffers) and numpy release the GIL, so two workers overlap every step. Parallel lists, no
    per-image tuples: fewer objects for the garbage collector to walk."""
    images: list[np.ndarray | None] = []
    digests: list[bytes | None] = []
    errors: dict[int, str] = {}
    for p in paths:
        img = _read_one(p)
        if isinstance(img, str):
            errors[len(images)] = img
            images.append(None)
            digests.append(None)
        else:
            images.append(img)
            digests.append(pixel_digest(img))
    return _Chunk(images, digests, errors, phash_many(images) if phash else None)


def load_pixels(ids: Sequence[str], paths: Sequence[str], *, workers: int = 2,
                tick: Callable[[int], None] | None = None, phash: bool = False) -> Pixels:
    """Decode and digest every path on `workers` threads; `phash`: pHash them there too."""
    from threadpoolctl import threadpool_limits

    chunks = [list(paths[i:i + CHUNK]) for i in range(0, len(paths), CHUNK)]
    images: list[np.ndarray | None] = []
    digests: list[bytes | None] = []
    hashes: list[np.ndarray] = []
    errors: dict[int, str] = {}
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max(1, workers)) as pool:
        for part in pool.map(lambda c: _read_chunk(c, phash), chunks):
            errors.update({len(images) + k: why for k, why in part.errors.items()})
            images += part.images
            digests += part.digests
            if part.phashes is not None:
                hashes.append(part.phashes)
            if tick:
                tick(len(part.images))
    if errors:
        log.warning("%d of %d images could not be read", len(errors), len(paths))
    return Pixels(list(ids), images, digests, errors,
                  (np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)) if phash else None)
