"""The dataset's reference classifier (docs/architecture.md): the model later stages use to check
expressions (restore) and gate synthetic images. Stored under `<workspace>/runs/reference/` as
one safetensors file per model (e.g. the K out-of-fold models of `curate clean`, averaged) plus
`reference.json` (architecture, input size, channels, classes, sha256 of each file).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.errors import ModelError
from curate.core.taxonomy import CLASSES
from curate.core.workspace import Workspace, atomic_path, sha256_file, write_json_atomic

META = "reference.json"
MEAN, STD = 0.5, 0.5  # input normalisation of every model here (and of train.model)


@dataclass(frozen=True, kw_only=True)
class ReferenceSpec:
    """What a model of the reference is: architecture, input and classes."""

    backbone: str
    img_size: int
    in_chans: int = 1
    classes: tuple[str, ...] = CLASSES
    mean: float = MEAN
    std: float = STD


def reference_dir(ws: Workspace) -> Path:
    return ws.runs / "reference"


def build_model(spec: ReferenceSpec):  # noqa: ANN201 - a torch.nn.Module
    import timm

    return timm.create_model(spec.backbone, pretrained=False, num_classes=len(spec.classes),
                             in_chans=spec.in_chans)


def save_reference(directory: Path, models: Sequence, spec: ReferenceSpec, **info: Any) -> Path:
    """Write each model's state dict as safetensors and the metadata with their sha256."""
    from safetensors.torch import save_file

    files = []
    for i, model in enumerate(models):
        path = directory / f"model_{i}.safetensors"
        with atomic_path(path, suffix=".safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                      str(tmp))
        files.append({"file": path.name, "sha256": sha256_file(path)})
    meta = {"spec": {**asdict(spec), "classes": list(spec.classes)}, "files": files, **info}
    return write_json_atomic(meta, directory / META)


class ReferenceClassifier:
    """An ensemble of timm models of one spec; `predict_proba` averages their softmax."""

    def __init__(self, models: Sequence, spec: ReferenceSpec, device: str = "cpu",
                 info: dict | None = None) -> None:
        self.models = [m.to(device).eval() for m in models]
        self.spec = spec
        self.device = device
        self.info = info or {}

    def _batch(self, images: Sequence[np.ndarray]):  # noqa: ANN202
        import torch
        from PIL import Image

        s, out = self.spec.img_size, []
        for img in images:
            im = Image.fromarray(img).convert("L" if self.spec.in_chans == 1 else "RGB")
            if im.size != (s, s):
                im = im.resize((s, s), Image.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
            out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
        x = torch.from_numpy(np.stack(out))
        return ((x - self.spec.mean) / self.spec.std).to(self.device)

    def predict_proba(self, images: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """(N, n_classes) probabilities for uint8 grayscale (H, W) or RGB (H, W, 3) arrays."""
        import torch

        probs = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = self._batch(images[i:i + batch_size])
                p = sum(torch.softmax(m(x).float(), dim=1) for m in self.models) / len(self.models)
                probs.append(p.cpu().numpy())
        return np.concatenate(probs) if probs else np.zeros((0, len(self.spec.classes)))


def load_reference(directory: Path, device: str = "cpu") -> ReferenceClassifier:
    """Load and verify the reference classifier; ModelError says how to make one when absent."""
    from safetensors.torch import load_file

    meta_path = directory / META
    if not meta_path.is_file():
        raise ModelError(f"no reference classifier in {directory}: run `curate clean` (its "
                         "out-of-fold models become the reference) or `curate clean --checks labels` first")
    meta = json.loads(meta_path.read_text())
    spec = ReferenceSpec(**{**meta["spec"], "classes": tuple(meta["spec"]["classes"])})
    models = []
    for entry in meta["files"]:
        path = directory / entry["file"]
        if not path.is_file():
            raise ModelError(f"reference model file {path} is missing; re-run `curate clean --checks labels`")
        got = sha256_file(path)
        if got != entry["sha256"]:
            raise ModelError(f"{path}: sha256 {got} does not match the recorded {entry['sha256']};"
                             " the file is corrupt or was replaced: re-run `curate clean --checks labels`")
        model = build_model(spec)
        try:
            model.load_state_dict(load_file(path))
        except RuntimeError as e:
            raise ModelError(f"{path}: weights do not fit {spec.backbone} ({str(e)[:120]})") from None
        models.append(model)
    return ReferenceClassifier(models, spec, device, {k: v for k, v in meta.items()
                                                      if k not in ("spec", "files")})
