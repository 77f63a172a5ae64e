"""The one face detector loader: OpenCV's Haar frontal-face cascade, shipped in
`cv2.data.haarcascades` (opencv-python-headless 4.x; opencv-python 5 dropped it).

A weak signal on tight 48 px crops (it finds a face in ~63-84% of FER-2013's, depending on
upsampling and padding), so callers combine it with other measures; see curate/clean/quality.py.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from curate.core.errors import ModelError

CASCADE = "haarcascade_frontalface_default.xml"


@lru_cache(maxsize=1)
def haar_cascade() -> Any:
    """The loaded cv2.CascadeClassifier (once per process); ModelError when it cannot load."""
    import cv2

    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)  # type: ignore[attr-defined]
    if cascade.empty():
        raise ModelError("OpenCV's Haar frontal-face cascade could not be loaded (is "
                         "opencv-python-headless 4.x installed, not opencv-python 5? run "
                         "scripts/install.sh)")
    return cascade
