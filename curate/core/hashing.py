"""Image hashes over batches of grayscale arrays: pixel digests and imagehash-identical pHash.

`imagehash.phash(img)` = `img.convert("L").resize((32, 32), LANCZOS)` -> 2-D DCT-II
(`scipy.fftpack`) -> the 8x8 low frequencies -> bits above their median. Per image, most of its
time is Python overhead. Here the resize is Pillow's own fixed-point two-pass Lanczos, rebuilt
as two integer-exact matrix products over the whole batch (same coefficients, rounding and
clipping as `Resample.c`), and the DCT and median run once over the batch, so the hashes are
bit-identical to imagehash's (asserted in tests and bench/bench_clean.py).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

HASH_SIZE = 8
HIGHFREQ = 4
IMG_SIZE = HASH_SIZE * HIGHFREQ  # 32
_PRECISION_BITS = 32 - 8 - 2  # Pillow's Resample.c
_LANCZOS_SUPPORT = 3.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x *= math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3.0) if -3.0 <= x < 3.0 else 0.0


@lru_cache(maxsize=64)
def pil_lanczos_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(in_size, out_size) float64 matrix of Pillow's fixed-point Lanczos coefficients.

    Mirrors `precompute_coeffs` + `normalize_coeffs_8bpc`: the values are integers (scaled by
    2**22), so float64 products and sums of uint8 pixels stay exact.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    m = np.zeros((in_size, out_size), dtype=np.float64)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        ws = [_lanczos((x + xmin - center + 0.5) / filterscale) for x in range(xmax)]
        total = sum(ws)
        for x, w in enumerate(ws):
            k = w / total if total != 0.0 else w
            scaled = k * (1 << _PRECISION_BITS)
            m[xmin + x, xx] = int(scaled - 0.5) if k < 0 else int(scaled + 0.5)
    return m


def _clip8(acc: np.ndarray) -> np.ndarray:
    """Pillow's `clip8` in place: add the rounding half, shift out the precision bits, clamp to
    0..255. `acc` holds exact integers in float64; adding 2**21 and dividing by 2**22 are exact,
    so `floor` is the arithmetic right shift of the C code. The result stays float64 (integer
    values), which the next pass and the DCT take as they are."""
    acc += 1 << (_PRECISION_BITS - 1)
    acc *= 1.0 / (1 << _PRECISION_BITS)
    np.floor(acc, out=acc)
    np.clip(acc, 0, 255, out=acc)
    return acc


def _resize(batch: np.ndarray, size: int) -> np.ndarray:
    """Pillow's LANCZOS resize of a (N, H, W) uint8 batch as integer-valued float64."""
    n, h, w = batch.shape
    x = batch.astype(np.float64)
    if w != size:  # horizontal pass first, as Pillow does
        x = _clip8(x.reshape(n * h, w) @ pil_lanczos_matrix(w, size)).reshape(n, h, size)
    if h != size:
        t = x.transpose(0, 2, 1).reshape(n * size, h)
        x = _clip8(t @ pil_lanczos_matrix(h, size)).reshape(n, size, size).transpose(0, 2, 1)
    return x


def resize_like_pil(batch: np.ndarray, size: int = IMG_SIZE) -> np.ndarray:
    """Resize a (N, H, W) uint8 batch to (N, size, size) exactly as Pillow's LANCZOS on "L"."""
    return np.ascontiguousarray(_resize(batch, size), dtype=np.uint8)


def phash_batch(batch: np.ndarray) -> np.ndarray:
    """imagehash-identical 64-bit pHash of each (H, W) uint8 image of a batch, as uint64.
    The second DCT runs only on the 8 rows kept (each row's transform is independent)."""
    import scipy.fftpack

    if len(batch) == 0:
        return np.zeros(0, dtype=np.uint64)
    small = _resize(batch, IMG_SIZE)
    rows = scipy.fftpack.dct(small, axis=1)[:, :HASH_SIZE, :]
    low = scipy.fftpack.dct(rows, axis=2)[:, :, :HASH_SIZE].reshape(len(batch), -1)
    med = np.median(low, axis=1, keepdims=True)
    bits = np.packbits(low > med, axis=1)  # 8 bytes per image, first bit = most significant
    return bits.view(">u8").ravel().astype(np.uint64)


# Images per batch: a 48 px batch of 256 keeps the float64 resize buffers (~5 MB) in cache;
# larger batches spill them (docs/results.md#code-defaults).
CHUNK = 256


def phash_many(images: Sequence[np.ndarray | None]) -> np.ndarray:
    """pHash of a list of grayscale arrays of any sizes (batched per size) in this thread;
    0 where None."""
    out = np.zeros(len(images), dtype=np.uint64)
    by_shape: dict[tuple[int, int], list[tuple[int, np.ndarray]]] = {}
    for i, img in enumerate(images):
        if img is not None:
            by_shape.setdefault(img.shape[:2], []).append((i, img))
    for items in by_shape.values():
        for s in range(0, len(items), CHUNK):
            part = items[s:s + CHUNK]
            out[[i for i, _ in part]] = phash_batch(np.stack([img for _, img in part]))
    return out


def to_hex(hashes: np.ndarray) -> list[str]:
    """imagehash's string form: 16 lower-case hex digits per 64-bit hash."""
    return [f"{int(h):016x}" for h in hashes]


def from_hex(values: Sequence[str]) -> np.ndarray:
    return np.array([int(v, 16) for v in values], dtype=np.uint64)


def pixel_digest(img: np.ndarray) -> bytes:
    """A content key of the decoded pixels and shape (not the file bytes: re-encodes differ)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(np.asarray(img.shape, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.digest()
