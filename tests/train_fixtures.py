"""Generated image sets for the train tests: each class is a bright bar at its own place."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curate.core.taxonomy import CLASSES
from train.data import ImageSet


def class_image(label: int, rng: np.random.Generator, side: int = 24) -> np.ndarray:
    """A noisy grayscale image of horizontal stripes whose width (1 + label px) is the class:
    unchanged in kind by flips and small shifts (the training augmentation)."""
    img = rng.integers(0, 80, size=(side, side)).astype(np.uint8)
    rows = (np.arange(side) // (label + 1)) % 2 == 1
    img[rows] += 150
    return img


def make_set(n: int, seed: int = 0, side: int = 24, split: str = "train") -> ImageSet:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    images = np.stack([class_image(int(y), rng, side)[None] for y in labels])
    return ImageSet(images=images, labels=labels.astype(np.int64), splits=np.array([split] * n),
                    ids=[f"{split}_{i}" for i in range(n)])


def export_tree(root: Path, per_class: dict[str, int], side: int = 24, seed: int = 0) -> Path:
    """<split>/<class>/*.png with `per_class[split]` images per class."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for split, k in per_class.items():
        for y, c in enumerate(CLASSES):
            d = root / split / c
            d.mkdir(parents=True, exist_ok=True)
            for i in range(k):
                Image.fromarray(class_image(y, rng, side)).save(d / f"{split}_{c}_{i}.png")
    return root
