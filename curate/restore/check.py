"""Expression preservation: did restoration change the reference classifier's prediction?

The check contract (curate.core.issues): `score` turns the predictions on the original and on
the restored file of each sample into an IssueTable (flag `restore_changed`), which
`write_issues` stores as the tag `issue:restore_changed` on exactly the changed samples among
those checked; `summarize` gives the per-class rates the report shows. Both are pure. The
reading loop (`predict_pairs`, or `predict_pairs_ray` on the Ray engine) feeds the classifier
in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from curate.core import schema
from curate.core.imageio import IMAGE_FORMATS, read_gray
from curate.core.issues import IssueTable

CHUNK = 1024
KIND = "restore_changed"
TAG = schema.issue_tag(KIND)
DONE = "done"
NOT_NAMED = "none"  # the per-class key of samples without a ground-truth label


def read_any(path: str) -> np.ndarray:
    """An image as uint8, grayscale (H, W) or RGB (H, W, 3), as stored."""
    with Image.open(path, formats=IMAGE_FORMATS) as im:
        return np.asarray(im if im.mode in ("L", "RGB") else im.convert("RGB"))


def _predict_chunk(ref: Any, originals: Sequence[str],
                   restored: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    a = [read_gray(p) for p in originals]
    b = [read_any(p) for p in restored]
    return ref.predict_proba(a).argmax(1), ref.predict_proba(b).argmax(1)


def predict_pairs(ref: Any, originals: Sequence[str], restored: Sequence[str],
                  tick: Callable[[int], None] = lambda n: None) -> tuple[np.ndarray, np.ndarray]:
    """Predicted class indices on the original and on the restored file of each pair."""
    p_orig, p_rest = [], []
    for i in range(0, len(originals), CHUNK):
        a, b = _predict_chunk(ref, originals[i:i + CHUNK], restored[i:i + CHUNK])
        p_orig.append(a)
        p_rest.append(b)
        tick(len(a))
    if not p_orig:
        return np.zeros(0, int), np.zeros(0, int)
    return np.concatenate(p_orig), np.concatenate(p_rest)


class RayPredict:
    """The Ray engine's actor for the check: the reference classifier loaded once per actor."""

    def __init__(self, ref_dir: str, device: str) -> None:
        from train.reference import load_reference

        self.ref = load_reference(Path(ref_dir), device)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        a, b = _predict_chunk(self.ref, [str(p) for p in batch["src"]],
                              [str(p) for p in batch["dst"]])
        return {"i": batch["i"], "orig": a, "rest": b}


def predict_pairs_ray(ref_dir: Path, device: str, originals: Sequence[str],
                      restored: Sequence[str], *, workers: int, num_gpus: float = 0.0,
                      tick: Callable[[int], None] = lambda n: None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """`predict_pairs` on Ray actors (same chunks, so the same predictions)."""
    from curate.core.engine import ray_map

    n = len(originals)
    p_orig, p_rest = np.zeros(n, int), np.zeros(n, int)
    rows = {"i": np.arange(n), "src": np.asarray(originals, dtype=object),
            "dst": np.asarray(restored, dtype=object)}
    for b in ray_map(rows, RayPredict, {"ref_dir": str(ref_dir), "device": device},
                     batch_size=CHUNK, workers=workers, num_gpus=num_gpus):
        p_orig[b["i"]], p_rest[b["i"]] = b["orig"], b["rest"]
        tick(len(b["i"]))
    return p_orig, p_rest


@dataclass(frozen=True)
class ClassChange:
    """How many samples of one ground-truth class were checked, how many changed."""

    checked: int
    changed: int
    rate: float


@dataclass
class CheckSummary:
    """The expression check's outcome, as the CLI prints it and the run history stores it."""

    status: str  # DONE, or why the check did not run
    checked: int = 0
    changed: int = 0
    rate: float = 0.0
    per_class: dict[str, ClassChange] = field(default_factory=dict)
    transitions: dict[str, int] = field(default_factory=dict)  # "<from>-><to>" -> count
    tag: str | None = None
    reference: dict[str, Any] | None = None  # the reference classifier's metadata

    @property
    def done(self) -> bool:
        return self.status == DONE

    def to_dict(self) -> dict[str, Any]:
        """The stored form: a check that did not run keeps its status only."""
        if not self.done:
            return {"status": self.status}
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckSummary:
        """Back from the stored form (a run recorded by this or an earlier version)."""
        per_class = {c: ClassChange(**v) for c, v in (d.get("per_class") or {}).items()}
        return cls(status=d.get("status", ""), checked=d.get("checked", 0),
                   changed=d.get("changed", 0), rate=d.get("rate", 0.0), per_class=per_class,
                   transitions=dict(d.get("transitions") or {}), tag=d.get("tag"),
                   reference=d.get("reference"))


def score(ids: Sequence[str], pred_orig: np.ndarray, pred_rest: np.ndarray) -> IssueTable:
    """Flag `restore_changed` where the prediction on the restored file differs."""
    changed = np.asarray(pred_orig) != np.asarray(pred_rest)
    n = len(changed)
    return IssueTable(check="restore", ids=list(ids), flags={KIND: changed},
                      stats={"checked": n, "changed": int(changed.sum()),
                             "rate": round(float(changed.mean()), 4) if n else 0.0})


def summarize(labels: Sequence[str | None], pred_orig: np.ndarray, pred_rest: np.ndarray,
              classes: Sequence[str]) -> CheckSummary:
    """Counts and change rate overall and per ground-truth class, plus the top transitions."""
    changed = pred_orig != pred_rest
    per_class = {}
    labels_arr = np.asarray([lb or NOT_NAMED for lb in labels], dtype=object)
    for c in [*classes, NOT_NAMED]:
        m = labels_arr == c
        if m.any():
            n, k = int(m.sum()), int(changed[m].sum())
            per_class[c] = ClassChange(n, k, round(k / n, 4))
    moves: dict[str, int] = {}
    for a, b in zip(pred_orig[changed], pred_rest[changed], strict=True):
        key = f"{classes[a]}->{classes[b]}"
        moves[key] = moves.get(key, 0) + 1
    n = len(changed)
    return CheckSummary(status=DONE, checked=n, changed=int(changed.sum()),
                        rate=round(float(changed.mean()), 4) if n else 0.0, per_class=per_class,
                        transitions=dict(sorted(moves.items(), key=lambda kv: -kv[1])[:20]))
