"""Contained fixes for third-party packages that break on current releases."""

from __future__ import annotations

import importlib
import sys
import types


def import_gfpgan() -> types.ModuleType:
    """Import `gfpgan` 1.3.8 on torchvision >= 0.17.

    basicsr (imported by gfpgan) reads `torchvision.transforms.functional_tensor`, which
    torchvision renamed to `_functional_tensor`; alias it before the import. The project's own
    restoration path loads GFPGAN checkpoints with spandrel and needs none of this; the stock
    `GFPGANer` is imported only by the benchmark that compares against it.
    """
    name = "torchvision.transforms.functional_tensor"
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = importlib.import_module("torchvision.transforms._functional_tensor")
    return importlib.import_module("gfpgan")
