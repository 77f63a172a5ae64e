"""Read many images as grayscale uint8 arrays, once, for every check of `curate clean`.

8-bit grayscale PNGs (every FER-2013 sample) are decoded with OpenCV, which is lossless and
gives the same pixels as Pillow at a fraction of its per-file overhead; anything else goes
through Pillow's `convert("L")`, the conversion imagehash applies. A file that is missing or
unreadable becomes `None` with a reason: counted and reported, never fatal.

Two engines (`curate.core.engine`): `local` reads on threads of this process; `ray` runs the
same chunk reader (`_read_chunk`) on Ray Data actors (`RayRead`), which send back each image's
pixels, digest and pHash; the driver puts them in the local engine's order, so every check sees
the same arrays bit for bit whichever engine read them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from curate.core import engine
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
                tick: Callable[[int], None] | None = None, phash: bool = False,
                engine_name: str = engine.LOCAL) -> Pixels:
    """Decode and digest every path on `workers` threads (or Ray actors with `engine_name`
    "ray"); `phash`: pHash them there too."""
    read = _read_ray if engine_name == engine.RAY else _read_local
    images: list[np.ndarray | None] = []
    digests: list[bytes | None] = []
    hashes: list[np.ndarray] = []
    errors: dict[int, str] = {}
    for part in read(list(paths), workers, phash, tick or (lambda n: None)):
        errors.update({len(images) + k: why for k, why in part.errors.items()})
        images += part.images
        digests += part.digests
        if part.phashes is not None:
            hashes.append(part.phashes)
    if errors:
        log.warning("%d of %d images could not be read", len(errors), len(paths))
    return Pixels(list(ids), images, digests, errors,
                  (np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)) if phash else None)


def _read_local(paths: list[str], workers: int, phash: bool,
                tick: Callable[[int], None]) -> Iterator[_Chunk]:
    """The chunks in order, read on `workers` threads of this process."""
    from threadpoolctl import threadpool_limits

    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(max(1, workers)) as pool:
        for part in pool.map(lambda c: _read_chunk(c, phash), chunks):
            tick(len(part.images))
            yield part


class RayRead:
    """The Ray engine's actor: `_read_chunk` over numpy batches of (pos, path). Per row it
    returns the pixels as bytes with their height and width (grayscale uint8; b"" when
    unreadable), the digest (b"" when unreadable), the pHash (0 unless asked for) and the reason
    ("" when read)."""

    def __init__(self, phash: bool) -> None:
        self.phash = phash

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"):
            part = _read_chunk([str(p) for p in batch["path"]], self.phash)
        n, ims = len(part.images), part.images
        return {
            "pos": batch["pos"],
            "pixels": np.asarray([b"" if im is None else im.tobytes() for im in ims],
                                 dtype=object),
            "height": np.asarray([0 if im is None else im.shape[0] for im in ims], np.int64),
            "width": np.asarray([0 if im is None else im.shape[1] for im in ims], np.int64),
            "digest": np.asarray([d or b"" for d in part.digests], dtype=object),
            "phash": part.phashes if part.phashes is not None else np.zeros(n, np.uint64),
            "error": np.asarray([part.errors.get(k, "") for k in range(n)], dtype=object)}


def _read_ray(paths: list[str], workers: int, phash: bool,
              tick: Callable[[int], None]) -> Iterator[_Chunk]:
    """All rows as one chunk, read on `workers` Ray actors in CHUNK-row batches; the batches
    come back in any order and are put back in the paths' order."""
    n = len(paths)
    images: list[np.ndarray | None] = [None] * n
    digests: list[bytes | None] = [None] * n
    hashes = np.zeros(n, np.uint64)
    errors: dict[int, str] = {}
    rows = {"pos": np.arange(n, dtype=np.int64), "path": np.asarray(paths, dtype=object)}
    for b in engine.ray_map(rows, RayRead, {"phash": phash}, batch_size=CHUNK, workers=workers):
        for pos, px, h, w, dig, why in zip(b["pos"], b["pixels"], b["height"], b["width"],
                                           b["digest"], b["error"], strict=True):
            if why:
                errors[int(pos)] = str(why)
            else:
                images[pos] = np.frombuffer(px, np.uint8).reshape(int(h), int(w)).copy()
                digests[pos] = bytes(dig)
        hashes[b["pos"]] = b["phash"]
        tick(len(b["pos"]))
    yield _Chunk(images, digests, dict(sorted(errors.items())), hashes if phash else None)
