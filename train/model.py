"""The model and inference: a timm model for a `TrainConfig` (pretrained only from a local
file), safetensors weight loading, the autocast policy (fp16 on CUDA; bf16 for training steps
on a CPU with native bf16), and batched fp32 inference on uint8 images: `predict` ->
(N, classes) probabilities, `embed` -> (N, features) pooled features.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curate.core.errors import InputError, ModelError
from curate.core.taxonomy import CLASSES
from train.reference import MEAN, STD

if TYPE_CHECKING:
    from train.loop import TrainConfig


def check_backbone(name: str) -> None:
    """Raise InputError suggesting close timm names when `name` is not a timm model."""
    import timm

    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see timm.list_models()"
    raise InputError(f"unknown backbone {name!r}{hint}")


def create_model(cfg: TrainConfig, num_classes: int = len(CLASSES)):  # noqa: ANN201 - torch.nn.Module
    """A timm model for `cfg`; pretrained only from a local file (no hub access)."""
    import timm

    check_backbone(cfg.backbone)
    kw: dict[str, Any] = dict(num_classes=num_classes, in_chans=cfg.in_chans)
    if not cfg.pretrained:
        return timm.create_model(cfg.backbone, pretrained=False, **kw)
    try:
        return timm.create_model(cfg.backbone, pretrained=True,
                                 pretrained_cfg_overlay=dict(file=str(cfg.pretrained)), **kw)
    except Exception as e:  # noqa: BLE001 - timm raises many types for a bad file
        raise ModelError(f"cannot load pretrained weights {cfg.pretrained} into {cfg.backbone}: "
                         f"{type(e).__name__}: {str(e)[:150]}") from None


def load_weights(model, path: Path) -> None:  # noqa: ANN001
    """Load a safetensors state dict; ModelError on a damaged or mismatched file."""
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(str(path)))
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{path}: cannot load ({type(e).__name__}: {str(e)[:100]})") from None


def count_params(model) -> int:  # noqa: ANN001
    return int(sum(p.numel() for p in model.parameters()))


def to_input(images):  # noqa: ANN001, ANN201
    """uint8 (N, C, H, W) tensor -> float tensor normalised as `ReferenceSpec` says."""
    return (images.float() / 255.0 - MEAN) / STD


@functools.cache
def cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), where bf16 autocast pays;
    elsewhere torch emulates it, slower than fp32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: str, *, amp: bool = True, train: bool = False):  # noqa: ANN201
    """fp16 autocast on CUDA; on CPU bf16 for training steps only (`train`), where the CPU has
    native bf16: probabilities and features are fp32 there, as a ranking needs."""
    import torch

    if amp and device.startswith("cuda"):
        return torch.autocast("cuda", dtype=torch.float16)
    if amp and train and device == "cpu" and cpu_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def predict(model, images: np.ndarray, *, device: str = "cpu", batch_size: int = 512,  # noqa: ANN001
            tta_flip: bool = True) -> np.ndarray:
    """Softmax probabilities (N, classes) for uint8 images; averages a horizontal flip."""
    import torch

    def probs(x):  # noqa: ANN001, ANN202
        p = torch.softmax(model(x).float(), 1)
        return (p + torch.softmax(model(x.flip(3)).float(), 1)) / 2 if tta_flip else p

    return _batched(model, images, probs, device, batch_size, width=len(CLASSES))


def embed(model, images: np.ndarray, *, device: str = "cpu", batch_size: int = 512) -> np.ndarray:  # noqa: ANN001
    """The backbone's pooled features (N, num_features) before the classifier, float32."""
    return _batched(model, images,
                    lambda x: model.forward_head(model.forward_features(x), pre_logits=True),
                    device, batch_size, width=model.num_features)


def _batched(model, images: np.ndarray, fn, device: str, batch_size: int,  # noqa: ANN001
             width: int) -> np.ndarray:
    """`fn` of the normalised uint8 images, batch by batch in eval and inference mode, as one
    float32 (N, width) array."""
    import torch

    model.eval()
    model.to(memory_format=torch.channels_last)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = to_input(torch.from_numpy(images[i:i + batch_size]).to(device))
            with autocast(device):
                out.append(fn(x).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, width), np.float32)


def inference_ms(model, images: np.ndarray, device: str = "cpu", n: int = 256) -> float:  # noqa: ANN001
    """Wall-clock milliseconds per image for batched inference (no TTA) on up to n images."""
    sub = images[:n]
    if not len(sub):
        return 0.0
    predict(model, sub[:8], device=device, tta_flip=False)
    t0 = time.perf_counter()
    predict(model, sub, device=device, tta_flip=False, batch_size=128)
    return 1000 * (time.perf_counter() - t0) / len(sub)
