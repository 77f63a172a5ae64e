"""Expression preservation: did restoration change the reference classifier's prediction?

Pure logic on arrays (`summarize`) plus the reading loop that feeds the classifier in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from PIL import Image

from curate.core.imageio import IMAGE_FORMATS, read_gray

CHUNK = 1024


def read_any(path: str) -> np.ndarray:
    """An image as uint8, grayscale (H, W) or RGB (H, W, 3), as stored."""
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))


def predict_pairs(ref: Any, originals: Sequence[str], restored: Sequence[str],
                  tick: Callable[[int], None] = lambda n: None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class indices on the original and on the restored file of each pair."""
    p_orig, p_rest = [], []
    for i in range(0, len(originals), CHUNK):
        a = [read_gray(p) for p in originals[i:i + CHUNK]]
        b = [read_any(p) for p in restored[i:i + CHUNK]]
        p_orig.append(ref.predict_proba(a).argmax(1))
        p_rest.append(ref.predict_proba(b).argmax(1))
        tick(len(a))
    if not p_orig:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(p_orig), np.concatenate(p_rest)


def summarize(labels: Sequence[str | None], pred_orig: np.ndarray, pred_rest: np.ndarray,
              classes: Sequence[str]) -> dict:
    """Counts and change rate overall and per ground-truth class, plus the top transitions."""
    changed = pred_orig != pred_rest
    per_class = {}
    labels_arr = np.asarray([lb or "none" for lb in labels], dtype=object)
    for c in [*classes, "none"]:
        m = labels_arr == c
        if m.any():
            n, k = int(m.sum()), int(changed[m].sum())
            per_class[c] = {"checked": n, "changed": k, "rate": round(k / n, 4)}
    moves: dict[str, int] = {}
    for a, b in zip(pred_orig[changed], pred_rest[changed], strict=True):
        key = f"{classes[a]}->{classes[b]}"
        moves[key] = moves.get(key, 0) + 1
    n = len(changed)
    return {"checked": n, "changed": int(changed.sum()),
            "rate": round(float(changed.mean()), 4) if n else 0.0,
            "per_class": per_class,
            "transitions": dict(sorted(moves.items(), key=lambda kv: -kv[1])[:20])}
