"""Image quality and face presence: measure -> score in [0, 1] (1 = worst) -> flag at a threshold.

All measures are taken on the image resized to 48x48 (FER-2013's size), so thresholds transfer
across sources. Calibrated on the shared FER-2013 (35,659 rows; quantiles measured there):

- lowinfo: entropy of the 256-bin histogram (bits); score 1 - entropy/8; flag >= 0.32 (~0.3%).
- dark: mean brightness in [0, 1]; score clip(1 - mean/0.5); flag >= 0.65 (mean < 0.175, ~0.5%).
- light: mean brightness; score clip((mean - 0.5)/0.5); flag >= 0.64 (mean > 0.82, ~0.5%).
- blurry: variance of the Laplacian of the min-max normalised image (contrast-independent);
  score clip(1 - var/0.037) (0.037 = the FER-2013 median); flag >= 0.74 (~0.5%); 0 for flat.
- nonface: OpenCV's Haar frontal-face cascade (`curate.core.faces`) on the crop upsampled to
  96 px and padded by 25% (tight crops need margin: detection rises from 68% to 84% of FER-2013
  with padding). face_score = 0.5 + 0.5 sigmoid(best level weight / 2) when a face is found,
  else 0.5 x how natural the entropy is (0 at <= 5 bits, 1 at >= 7); flag when face_score < 0.25.

The Haar cascade alone misses a face in ~16% of these tight 48 px crops (nearly all real
faces), so an undetected crop is only flagged when it is also low in information (cartoons,
icons, text, blank frames); a detected face is never flagged as a non-face. For the same reason
`--fast` runs the detector only on crops below `fast_face_entropy` bits: above it, the entropy
alone keeps face_score >= 0.25 whatever the detector says.

`score` is the check: an `IssueTable` of the measures, scores, face_score, reasons and flags.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from curate.core import schema
from curate.core.errors import InputError
from curate.core.issues import Column, IssueTable, Stat
from curate.core.options import inherit, option
from curate.core.progress import task

SIDE = 48
MEASURE_CHUNK = 8192  # images per chunk of the pixel measures (bounds their float32 copies)
KINDS = ("lowinfo", "dark", "light", "blurry", "nonface")
SCORED = ("lowinfo", "dark", "light", "blurry")  # kinds flagged when score >= threshold
BLUR_REF = 0.037
FAST_FACE_ENTROPY = 6.0  # bits; --fast's detector gate
# Sample fields of the raw measures and of the per-kind scores.
MEASURE_FIELDS = {"brightness": "quality_brightness", "contrast": "quality_contrast",
                  "entropy": "quality_entropy", "laplacian_var": "quality_laplacian_var"}
SCORE_FIELDS = {k: f"{k}_score" for k in SCORED}
DIGITS = 5  # stored measures are rounded


def _threshold(what: str) -> str:
    return f"Quality check: {what}."


@dataclass(frozen=True, kw_only=True)
class QualityConfig:
    """Flag thresholds (flag when score >= threshold; nonface when face_score < it), and where
    the face detector runs: nowhere (`face=False`), on every crop, or with `fast` only on crops
    below `fast_face_entropy` bits (`entropy_gate`)."""

    lowinfo_threshold: float = option(0.32, min=0.0, max=1.0, help=_threshold(
        "flag issue:lowinfo at lowinfo_score >= this"))
    dark_threshold: float = option(0.65, min=0.0, max=1.0, help=_threshold(
        "flag issue:dark at dark_score >= this"))
    light_threshold: float = option(0.64, min=0.0, max=1.0, help=_threshold(
        "flag issue:light at light_score >= this"))
    blurry_threshold: float = option(0.74, min=0.0, max=1.0, help=_threshold(
        "flag issue:blurry at blurry_score >= this"))
    nonface_threshold: float = option(0.25, min=0.0, max=1.0, help=_threshold(
        "flag issue:nonface at face_score < this"))
    fast_face_entropy: float = option(
        FAST_FACE_ENTROPY, min=0.0, max=8.0,
        help="With --fast: run the face detector only on crops below this entropy (bits); the "
             "others get no face_score and no issue:nonface.")
    fast: bool = inherit(False)
    face_side: int = 96
    face: bool = True  # the slow part: ~200 crops/s per core

    def __post_init__(self) -> None:
        for kind in KINDS:
            v = self.threshold(kind)
            if not 0.0 <= v <= 1.0:
                raise InputError(f"--{kind}-threshold {v}: must be in [0, 1]")
        if not 0.0 <= self.fast_face_entropy <= 8.0:
            raise InputError(f"--fast-face-entropy {self.fast_face_entropy}: must be in [0, 8] "
                             "bits")
        if not 48 <= self.face_side <= 512:
            raise InputError(f"face_side {self.face_side}: must be in 48..512 pixels")

    @property
    def entropy_gate(self) -> float | None:
        """The face detector's entropy gate (bits): `fast_face_entropy` with --fast, else none."""
        return self.fast_face_entropy if self.fast else None

    def threshold(self, kind: str) -> float:
        return getattr(self, f"{kind}_threshold")

    def settings(self) -> dict[str, Stat]:
        """The settings a run's fingerprint records (the gate as it applies)."""
        out: dict[str, Stat] = {f"{k}_threshold": self.threshold(k) for k in KINDS}
        return {**out, "fast_face_entropy": self.entropy_gate, "face_side": self.face_side,
                "face": self.face}


@dataclass
class Measures:
    """Per-image raw measures and scores (arrays of the same length)."""

    brightness: np.ndarray
    contrast: np.ndarray
    entropy: np.ndarray
    laplacian_var: np.ndarray
    face_score: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)


def to_side(images: Sequence[np.ndarray], side: int = SIDE) -> np.ndarray:
    """Stack grayscale images as (N, side, side) uint8 (area resize when the size differs)."""
    import cv2

    out = np.empty((len(images), side, side), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = im if im.shape == (side, side) else cv2.resize(
            im, (side, side), interpolation=cv2.INTER_AREA)
    return out


def entropy_bits(batch: np.ndarray) -> np.ndarray:
    """Shannon entropy (bits) of each image's 256-bin histogram."""
    n = len(batch)
    flat = batch.reshape(n, int(np.prod(batch.shape[1:])))
    idx = (np.arange(n, dtype=np.int64)[:, None] * 256 + flat).ravel()
    p = np.bincount(idx, minlength=n * 256).reshape(n, 256) / max(1, flat.shape[1])
    logp = np.log2(p, out=np.zeros_like(p), where=p > 0)
    return np.maximum(0.0, -(p * logp).sum(axis=1)) + 0.0  # no -0.0


def laplacian_var(batch: np.ndarray) -> np.ndarray:
    """Variance of the 4-neighbour Laplacian of each min-max normalised image (0 if flat)."""
    f = batch.astype(np.float32)
    lo = f.min(axis=(1, 2), keepdims=True)
    span = f.max(axis=(1, 2), keepdims=True) - lo
    z = np.where(span > 0, (f - lo) / np.maximum(span, 1e-6), 0.0)
    lap = (z[:, :-2, 1:-1] + z[:, 2:, 1:-1] + z[:, 1:-1, :-2] + z[:, 1:-1, 2:]
           - 4 * z[:, 1:-1, 1:-1])
    return lap.var(axis=(1, 2)).astype(np.float64)


def haar_weights(batch: np.ndarray, side: int = 96,
                 tick: Callable[[int], None] | None = None) -> np.ndarray:
    """Best Haar frontal-face level weight per image; -inf where no face is found."""
    import cv2

    from curate.core.faces import haar_cascade

    cascade = haar_cascade()
    pad = side // 4
    out = np.full(len(batch), -np.inf)
    for i, im in enumerate(batch):
        up = cv2.resize(im, (side, side), interpolation=cv2.INTER_LINEAR)
        up = cv2.copyMakeBorder(up, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(im.mean()))
        _, _, w = cascade.detectMultiScale3(up, scaleFactor=1.1, minNeighbors=1,
                                            minSize=(side // 2, side // 2),
                                            outputRejectLevels=True)
        if len(w):
            out[i] = float(np.max(w))
        if tick and i % 256 == 255:
            tick(256)
    if tick:
        tick(len(batch) % 256)
    return out


def face_scores(weights: np.ndarray, entropy: np.ndarray) -> np.ndarray:
    """Combine the detector with image information into a face-presence score in [0, 1]."""
    found = np.isfinite(weights)
    sig = 1.0 / (1.0 + np.exp(-np.clip(np.where(found, weights, 0.0), -50, 50) / 2.0))
    detected = 0.5 + 0.5 * sig  # a found face scores above any undetected crop
    natural = np.clip((entropy - 5.0) / 2.0, 0.0, 1.0)
    return np.where(found, detected, 0.5 * natural)


def face_candidates(entropy: np.ndarray, cfg: QualityConfig) -> np.ndarray:
    """Indices the face detector runs on (none when `cfg.face` is off)."""
    if not cfg.face:
        return np.zeros(0, np.int64)
    if cfg.entropy_gate is None:
        return np.arange(len(entropy))
    return np.flatnonzero(entropy < cfg.entropy_gate)


def _pixel_measures(batch: np.ndarray) -> tuple[np.ndarray, ...]:
    """Brightness, contrast, entropy and Laplacian variance of each image of a chunk: each
    image's figures depend on its own pixels only, so chunking changes none of them."""
    f = batch.astype(np.float32) / 255.0
    return (f.mean(axis=(1, 2)).astype(np.float64), f.std(axis=(1, 2)).astype(np.float64),
            entropy_bits(batch), laplacian_var(batch))


def measure(batch: np.ndarray, cfg: QualityConfig, *, progress: bool = False) -> Measures:
    """All measures and scores of a (N, 48, 48) uint8 batch; face_score NaN where the detector
    did not run."""
    parts = [_pixel_measures(batch[s:s + MEASURE_CHUNK])
             for s in range(0, len(batch), MEASURE_CHUNK)] or [_pixel_measures(batch)]
    brightness, contrast, ent, lv = (np.concatenate(col) for col in zip(*parts, strict=True))
    face = np.full(len(batch), math.nan)
    sel = face_candidates(ent, cfg)
    if len(sel):
        with task("clean: face detector", len(sel), progress) as tick:
            face[sel] = face_scores(haar_weights(batch[sel], cfg.face_side, tick), ent[sel])
    m = Measures(brightness, contrast, ent, lv, face)
    m.scores = {
        "lowinfo": np.clip(1.0 - ent / 8.0, 0.0, 1.0),
        "dark": np.clip(1.0 - brightness / 0.5, 0.0, 1.0),
        "light": np.clip((brightness - 0.5) / 0.5, 0.0, 1.0),
        # a flat image has no edges to blur: it is low-information, not blurry
        "blurry": np.where(np.ptp(batch, axis=(1, 2)) > 0,
                           np.clip(1.0 - lv / BLUR_REF, 0.0, 1.0), 0.0),
    }
    return m


def flags(m: Measures, cfg: QualityConfig) -> dict[str, np.ndarray]:
    """Boolean mask per issue kind; nonface only where the detector ran."""
    out = {k: m.scores[k] >= cfg.threshold(k) for k in SCORED}
    out["nonface"] = np.nan_to_num(m.face_score, nan=1.0) < cfg.threshold("nonface")
    return out


def reasons(m: Measures, fl: dict[str, np.ndarray], i: int) -> list[str]:
    """Human-readable reasons for item i's flags (recorded on the sample)."""
    text = {
        "lowinfo": f"lowinfo: entropy {m.entropy[i]:.2f} bits",
        "dark": f"dark: mean brightness {m.brightness[i]:.3f}",
        "light": f"light: mean brightness {m.brightness[i]:.3f}",
        "blurry": f"blurry: Laplacian variance {m.laplacian_var[i]:.4f}",
        "nonface": f"nonface: face_score {m.face_score[i]:.2f}",
    }
    return [text[k] for k in KINDS if fl[k][i]]


def _spread(values: np.ndarray, ok: np.ndarray) -> Column:
    """A float column over every sample: the rounded value where read, None elsewhere."""
    full = np.full(len(ok), np.nan)
    full[ok] = values
    return Column("float", [None if math.isnan(v) else round(v, DIGITS) for v in full.tolist()])


def _columns(m: Measures, fl: dict[str, np.ndarray], ok: np.ndarray) -> dict[str, Column]:
    cols = {name: _spread(getattr(m, key), ok) for key, name in MEASURE_FIELDS.items()}
    cols.update({name: _spread(m.scores[k], ok) for k, name in SCORE_FIELDS.items()})
    cols[schema.FACE_SCORE] = _spread(m.face_score, ok)
    why: list[list[str] | None] = [None] * len(ok)
    for j, i in enumerate(np.flatnonzero(ok).tolist()):
        why[i] = reasons(m, fl, j)
    cols[schema.QUALITY_REASONS] = Column("strlist", why)
    return cols


def score(ids: Sequence[str], images: Sequence[np.ndarray | None], cfg: QualityConfig, *,
          progress: bool = False) -> IssueTable:
    """The quality check on grayscale images aligned with `ids` (None = unreadable: no
    measures, no flags)."""
    ok = np.array([im is not None for im in images], dtype=bool)
    m = measure(to_side([im for im in images if im is not None]), cfg, progress=progress)
    fl = flags(m, cfg)
    full = {}
    for kind, mask in fl.items():
        full[kind] = np.zeros(len(ok), dtype=bool)
        full[kind][ok] = mask
    stats: dict[str, Stat] = {"images": len(ok), "unreadable": int((~ok).sum()),
                              "faces_checked": int(np.isfinite(m.face_score).sum())}
    return IssueTable("quality", list(ids), _columns(m, fl, ok), full, stats)
