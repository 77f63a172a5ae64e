"""Safe image reading and atomic image writing."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

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


def write_png_atomic(array: np.ndarray, path: Path) -> int:
    """Write `array` as PNG via a temp file and `os.replace`; returns the file size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.incomplete")
    try:
        with open(tmp, "wb") as fh:
            Image.fromarray(array).save(fh, format="PNG", compress_level=1)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return os.path.getsize(path)
