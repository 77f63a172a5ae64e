"""Safe image reading and atomic image writing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from curate.core.workspace import atomic_path

MAX_PIXELS = 50_000_000
# Pillow's own bomb guard stays on, above our limit; we refuse > MAX_PIXELS ourselves from the header.
Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "WEBP", "GIF")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"})
MIME = {"PNG": "image/png", "JPEG": "image/jpeg", "BMP": "image/bmp", "TIFF": "image/tiff",
        "WEBP": "image/webp", "GIF": "image/gif"}


class BadImage(ValueError):
    """An image that cannot be used; the message is the skip reason."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    channels: int
    size_bytes: int
    mime_type: str


def probe(path: str | os.PathLike) -> ImageInfo:
    """Fully decode an image to prove it is readable; raise BadImage with the reason."""
    try:
        size = os.path.getsize(path)
        with Image.open(path, formats=IMAGE_FORMATS) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise BadImage(f"image of {w}x{h} is over {MAX_PIXELS // 1_000_000} megapixels")
            im.load()
            channels = len(im.getbands())
            fmt = im.format or "PNG"
    except BadImage:
        raise
    except FileNotFoundError:
        raise BadImage("file not found") from None
    except Image.DecompressionBombError:
        raise BadImage(f"image is over {MAX_PIXELS // 1_000_000} megapixels") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"unreadable or truncated image ({e})") from None
    return ImageInfo(w, h, channels, size, MIME.get(fmt, "image/" + fmt.lower()))


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """Read an image as a uint8 grayscale array (H, W)."""
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        return np.asarray(im.convert("L"))


# zlib level 1 with Huffman-only coding: faster than Pillow's level 1, lossless, files no larger
# (docs/results.md#code-defaults).
_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]


def write_png_atomic(array: np.ndarray, path: Path) -> int:
    """Encode uint8 gray (H, W) or RGB (H, W, 3) as PNG, written atomically; returns the file
    size. A failed write (a full disk) is raised as an OSError naming `path`: a bare `write()`
    error carries no file name, and the CLI's one-line message needs it."""
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", array, _PNG)
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    data = buf.tobytes()
    try:
        with atomic_path(Path(path)) as tmp:
            tmp.write_bytes(data)
    except OSError as e:
        raise OSError(e.errno, e.strerror or str(e), str(path)) from e
    return len(data)
