"""GFPGAN through spandrel (no basicsr, no detector, no paste-back): load, then batched inference.

FER crops are already aligned faces, so the network alone is what is needed: each grayscale crop
is resized to 512 px (bilinear, as `GFPGANer.enhance(has_aligned=True)` does), replicated to
3 channels, scaled to [-1, 1], restored in batches, and resized to the output size.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from curate.core.errors import ModelError

log = logging.getLogger(__name__)

NET_SIZE = 512


def _state_dict(path: Path) -> dict:
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling errors, truncated zip, non-torch files
        raise ModelError(f"{path}: not a loadable torch checkpoint ({type(e).__name__}: "
                         f"{str(e)[:120]}); use an official GFPGAN .pth file") from None
    if not isinstance(ckpt, dict):
        raise ModelError(f"{path}: expected a state dict, found {type(ckpt).__name__}")
    for key in ("params_ema", "params"):
        if isinstance(ckpt.get(key), dict):
            return ckpt[key]
    return ckpt


def load_gfpgan(path: Path) -> Any:
    """Load a GFPGAN checkpoint (`params_ema` state dict) as a spandrel ImageModelDescriptor.

    Raises ModelError when the file is not a checkpoint or holds another architecture.
    """
    from spandrel import ModelLoader, UnsupportedModelError

    sd = _state_dict(path)
    try:
        desc = ModelLoader().load_from_state_dict(sd)
    except UnsupportedModelError:
        raise ModelError(f"{path}: not a GFPGAN checkpoint (spandrel recognises no architecture "
                         "in it); use GFPGANv1.3.pth or GFPGANv1.4.pth") from None
    except (RuntimeError, KeyError, ValueError) as e:
        raise ModelError(f"{path}: weights do not fit GFPGAN ({str(e)[:120]})") from None
    if desc.architecture.id != "GFPGAN":
        raise ModelError(f"{path}: holds a {desc.architecture.id} model, not GFPGAN; use "
                         "GFPGANv1.3.pth or GFPGANv1.4.pth")
    return desc.eval()


def pick_dtype(desc: Any, device: str, precision: str = "auto") -> str:
    """fp32 on CPU; on CUDA fp16 where spandrel marks the model half-safe, else bf16, else fp32."""
    if precision != "auto":
        return precision
    if not device.startswith("cuda"):
        return "fp32"
    import torch

    if desc.supports_half:
        return "fp16"
    if desc.supports_bfloat16 and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def preprocess(images: Sequence[np.ndarray]) -> np.ndarray:
    """uint8 grayscale (H, W) or RGB (H, W, 3) -> float32 (N, 3, 512, 512) in [-1, 1]."""
    out = np.empty((len(images), 3, NET_SIZE, NET_SIZE), np.float32)
    for i, img in enumerate(images):
        big = cv2.resize(img, (NET_SIZE, NET_SIZE), interpolation=cv2.INTER_LINEAR)
        if big.ndim == 2:
            big = np.repeat(big[..., None], 3, axis=2)
        out[i] = big.transpose(2, 0, 1) / 127.5 - 1.0
    return out


def postprocess(batch: np.ndarray, size: int, color: str) -> list[np.ndarray]:
    """float (N, 3, 512, 512) in [-1, 1] -> uint8 (size, size[, 3]) images, RGB or grayscale."""
    imgs = ((np.clip(batch, -1, 1) + 1) * 127.5).round().astype(np.uint8).transpose(0, 2, 3, 1)
    out = []
    for img in imgs:
        if size != NET_SIZE:
            img = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if color == "gray" else
                   np.ascontiguousarray(img))
    return out


def is_oom(e: BaseException) -> bool:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None) or torch.cuda.OutOfMemoryError
    return isinstance(e, oom) or "out of memory" in str(e).lower()


def run_halving(fn: Callable[[list], list], items: list, batch_size: int,
                on_oom: Callable[[int], None] | None = None) -> tuple[list, int]:
    """Apply `fn` to `items` in batches; on out-of-memory halve the batch and go on.

    Returns (outputs in order, the batch size that worked). Batch 1 failing is a ModelError.
    """
    out: list = []
    i = 0
    while i < len(items):
        chunk = items[i:i + batch_size]
        try:
            out.extend(fn(chunk))
        except Exception as e:
            if not is_oom(e):
                raise
            if batch_size == 1:
                raise ModelError("out of memory at batch size 1; use --device cpu") from None
            _free_cuda()
            batch_size //= 2
            log.warning("out of memory: batch size halved to %d", batch_size)
            if on_oom:
                on_oom(batch_size)
            continue
        i += len(chunk)
    return out, batch_size


def _free_cuda() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class GFPGANRestorer:
    """Batched GFPGAN inference on a device, with the batch halved on out-of-memory."""

    def __init__(self, desc: Any, device: str = "cpu", precision: str = "auto",
                 batch_size: int = 4) -> None:
        import torch

        self.dtype_name = pick_dtype(desc, device, precision)
        self.dtype = {"fp32": torch.float32, "fp16": torch.float16,
                      "bf16": torch.bfloat16}[self.dtype_name]
        self.device = device
        self.net = desc.model.to(device=device, dtype=self.dtype).eval()
        self.batch_size = batch_size

    def _forward(self, images: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        x = torch.from_numpy(preprocess(images)).to(self.device, self.dtype)
        with torch.inference_mode():
            # the checkpoint's fixed noise buffers: the same input gives the same output
            y = self.net(x, return_rgb=False, randomize_noise=False)[0]
        return list(y.float().cpu().numpy())

    def restore(self, images: Sequence[np.ndarray], size: int, color: str) -> list[np.ndarray]:
        """Restore uint8 face crops; returns uint8 images of `size` px, RGB or grayscale."""
        raw, self.batch_size = run_halving(self._forward, list(images), self.batch_size)
        return postprocess(np.stack(raw), size, color) if raw else []
