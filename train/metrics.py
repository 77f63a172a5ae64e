"""Classification metrics on numpy arrays: accuracy, macro-F1, per-class P/R/F1, confusion
matrix, expected calibration error and log-loss. No torch, no DB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

import numpy as np


class ClassMetrics(TypedDict):
    precision: float
    recall: float
    f1: float
    support: int


class Metrics(TypedDict):
    """`evaluate`'s result: plain JSON values (metrics.json's `test`, the eval JSON)."""

    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassMetrics]
    confusion: list[list[int]]  # rows = true class, columns = predicted class
    ece: float
    log_loss: float


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(float)
    pred = cm.sum(0).astype(float)
    true = cm.sum(1).astype(float)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": true.astype(int)}


def ece(probs: np.ndarray, y_true: np.ndarray, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence over equal-width bins."""
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(total)


def log_loss(probs: np.ndarray, y_true: np.ndarray, eps: float = 1e-7) -> float:
    """Mean negative log-probability of the true class."""
    p = np.clip(probs[np.arange(len(y_true)), y_true], eps, 1.0)
    return float(-np.log(p).mean())


def evaluate(probs: np.ndarray, y_true: np.ndarray, classes: Sequence[str]) -> Metrics:
    """All metrics as plain JSON-able values."""
    y_true = np.asarray(y_true)
    if len(y_true) == 0:
        raise ValueError("no samples to evaluate")
    y_pred = probs.argmax(1)
    cm = confusion(y_true, y_pred, len(classes))
    pc = per_class(cm)
    present = pc["support"] > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()),
        "macro_f1": float(pc["f1"][present].mean()) if present.any() else 0.0,
        "per_class": {c: ClassMetrics(precision=float(pc["precision"][i]),
                                      recall=float(pc["recall"][i]), f1=float(pc["f1"][i]),
                                      support=int(pc["support"][i]))
                      for i, c in enumerate(classes)},
        "confusion": cm.tolist(),
        "ece": ece(probs, y_true),
        "log_loss": log_loss(probs, y_true),
    }
