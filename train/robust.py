"""Noise-robust training, the baselines a curated dataset has to beat: losses that bound the
pull of a wrong label, and a Self-Cure-Network-style reweighting learned during training.
`TrainConfig.loss` picks the loss, `TrainConfig.reweight` the reweighting; `train compare`
puts them beside curation as variants (`raw+gce`, ...: `RECIPES`).

- `ce`: cross-entropy (`TrainConfig.label_smoothing` applies to it; `raw+smooth` = 0.1).
- `gce`: generalized cross-entropy, (1 - p_y^q) / q (Zhang & Sabuncu, NeurIPS 2018), q =
  `TrainConfig.loss_q` (0.7, the paper's): between CE (q -> 0) and MAE (q = 1), whose bounded
  gradient lets a network ignore a label it cannot fit.
  (Symmetric CE, alpha CE + beta reverse CE, was tried and left out: with the paper's alpha 0.1,
  beta 1.0 it memorised planted noise as plain CE does, tests/unit/test_robust.py's setting.)
- reweight `scn`: Self-Cure Network (Wang et al., CVPR 2020): a sigmoid attention head on the
  pooled features weights each sample's logits; a rank regularisation keeps the mean weight of
  the top 70% of a batch at least 0.15 above the rest's; from half of the epochs on, a low-weight
  sample whose most probable class beats its label by more than 0.2 is relabelled for the rest
  of the run. The head only shapes training: the saved model is the plain backbone.

Soft targets (`curate apply --soften`) work with every loss: p_y becomes sum_j t_j p_j.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SCN_HIGH, SCN_MARGIN, SCN_RELABEL_MARGIN, SCN_RELABEL_FROM = 0.7, 0.15, 0.2, 0.5


def _target_prob(p, y):  # noqa: ANN001, ANN202 - tensors
    """Each row's probability of its target: p[y] for class indices, sum t p for soft rows."""
    return p.gather(1, y[:, None]).squeeze(1) if y.ndim == 1 else (p * y).sum(1)


def gce_loss(logits, y, q: float = 0.7):  # noqa: ANN001, ANN201
    """Generalized cross-entropy, mean over the batch."""
    import torch

    p = torch.softmax(logits.float(), 1)
    return ((1 - _target_prob(p, y).clamp_min(1e-7) ** q) / q).mean()


def make_loss(name: str, *, label_smoothing: float = 0.0, q: float = 0.7) -> Callable[..., Any]:
    """The loss `name` as a function (logits, targets) -> scalar."""
    import torch

    if name == "ce":
        return torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    if label_smoothing:
        raise ValueError(f"label_smoothing applies to the ce loss, not {name}")
    return lambda logits, y: gce_loss(logits, y, q)


# The training losses (the `TrainConfig.loss` choices) and reweightings (`reweight`).
LOSSES = ("ce", "gce")
REWEIGHTS = ("none", "scn")


@dataclass(frozen=True)
class Step:
    """One SCN forward: the loss to minimise, the batch's weights and its unweighted logits."""

    loss: Any
    weights: Any
    logits: Any


def self_cure(num_features: int):  # noqa: ANN201 - a torch.nn.Module
    """SCN's attention head as a module with `step(model, x, y, loss_fn) -> Step`."""
    import torch

    class SelfCure(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(num_features, 1)

        def step(self, model, x, y, loss_fn) -> Step:  # noqa: ANN001
            feats = model.forward_head(model.forward_features(x), pre_logits=True)
            alpha = torch.sigmoid(self.fc(feats.float())).squeeze(1)
            logits = model.get_classifier()(feats)
            loss = loss_fn(alpha[:, None] * logits.float(), y)
            k = max(1, int(round(SCN_HIGH * len(alpha))))
            if k < len(alpha):
                s = alpha.sort(descending=True).values
                loss = loss + torch.relu(SCN_MARGIN - (s[:k].mean() - s[k:].mean()))
            return Step(loss=loss, weights=alpha.detach(), logits=logits.detach())

    return SelfCure()


def relabel_rows(step: Step, y):  # noqa: ANN001, ANN201
    """(rows of the batch to relabel, their new class): the low-weight rows (outside the top
    SCN_HIGH share) whose most probable class beats the target's probability by more than
    SCN_RELABEL_MARGIN."""
    import torch

    w = step.weights
    k = max(1, int(round(SCN_HIGH * len(w))))
    if k >= len(w):
        return torch.zeros(0, dtype=torch.long, device=w.device), None
    low = torch.zeros_like(w, dtype=torch.bool)
    low[w.argsort(descending=True)[k:]] = True
    p = torch.softmax(step.logits.float(), 1)
    best, cls = p.max(1)
    given = _target_prob(p, y)
    pick = low & (best - given > SCN_RELABEL_MARGIN) & (cls != (y if y.ndim == 1 else y.argmax(1)))
    rows = torch.nonzero(pick).squeeze(1)
    return rows, cls[rows]


# `train compare`'s robust-training variants: `<base>+<recipe>` trains on <base> with these
# TrainConfig settings, in the same budget and seeds as every other variant.
RECIPES: dict[str, dict[str, Any]] = {
    "smooth": {"label_smoothing": 0.1},
    "gce": {"loss": "gce"},
    "scn": {"reweight": "scn"},
}
