"""Classical upsampling (no weights): Lanczos or bicubic resize, optionally an unsharp mask."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

# method name -> PIL filter: the registry of classical methods (curate restore --method).
FILTERS = {"lanczos": Image.LANCZOS, "bicubic": Image.BICUBIC}
UNSHARP = ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2)


def upsample(img: np.ndarray, size: int, method: str = "lanczos", color: str = "gray",
             unsharp: bool = False) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3) -> uint8 (size, size) grayscale or (size, size, 3) RGB."""
    if method not in FILTERS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(FILTERS)}")
    im = Image.fromarray(img).convert("L" if color == "gray" else "RGB")
    if im.size != (size, size):
        im = im.resize((size, size), FILTERS[method])
    if unsharp:
        im = im.filter(UNSHARP)
    return np.asarray(im)
