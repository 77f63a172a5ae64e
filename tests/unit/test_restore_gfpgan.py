"""The real GFPGAN loading path (spandrel, weights_only) on a random-weight checkpoint of the real
architecture in the official {"params_ema": ...} format, and batched inference on it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from restore_fixtures import gfpgan_ckpt  # noqa: F401 - session fixture

from curate.core.errors import ModelError
from curate.restore import weights
from curate.restore.gfpgan import GFPGANRestorer, load_gfpgan, pick_dtype


def test_random_official_format_checkpoint_loads_and_restores(gfpgan_ckpt):  # noqa: F811
    wf = weights.resolve(weights=gfpgan_ckpt)
    assert not wf.verified and len(wf.sha256) == 64  # random weights are never a known release
    desc = load_gfpgan(wf.path)
    assert desc.architecture.id == "GFPGAN"
    assert type(desc.model).__name__ == "GFPGANv1Clean"
    assert sum(p.numel() for p in desc.model.parameters()) == 86_444_252
    assert pick_dtype(desc, "cpu") == "fp32"
    r = GFPGANRestorer(desc, "cpu", batch_size=1)
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    (rgb,) = r.restore([face], 96, "rgb")
    (gray,) = r.restore([face], 96, "gray")
    assert rgb.shape == (96, 96, 3) and gray.shape == (96, 96) and rgb.dtype == np.uint8
    # the checkpoint's fixed noise makes runs deterministic: gray is the same image's luma
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(int)
    assert np.abs(luma - gray.astype(int)).max() <= 1

def test_wrong_architecture_and_non_checkpoints_are_model_errors(tmp_path):
    from spandrel.architectures.Compact import Compact

    other = tmp_path / "compact.pth"
    torch.save({"params_ema": Compact(num_feat=8, num_conv=2).state_dict()}, other)
    with pytest.raises(ModelError, match="holds a Compact model, not GFPGAN"):
        load_gfpgan(other)
    junk = tmp_path / "junk.pth"
    torch.save({"params_ema": {"foo.weight": torch.zeros(2)}}, junk)
    with pytest.raises(ModelError, match="not a GFPGAN checkpoint"):
        load_gfpgan(junk)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00" * 1000)
    with pytest.raises(ModelError, match="not a loadable torch checkpoint"):
        load_gfpgan(garbage)
