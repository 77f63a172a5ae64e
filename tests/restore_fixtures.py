"""Generators for the restore tests: a random-weight GFPGAN checkpoint of the real architecture in
the official format, a tiny reference classifier, a small ingested FER-2013 dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures import fer_rows, write_fer_csv


def write_random_gfpgan(path: Path, seed: int = 0) -> Path:
    """GFPGANv1Clean (spandrel's copy of the official arch), random init, saved as
    {"params_ema": state_dict} like the TencentARC releases (~350 MB)."""
    import torch
    from spandrel.architectures.GFPGAN import GFPGAN

    from curate.core.workspace import atomic_path

    if path.is_file():
        return path
    torch.manual_seed(seed)
    model = GFPGAN()
    with atomic_path(path) as tmp:
        torch.save({"params_ema": model.state_dict()}, tmp)
    return path


@pytest.fixture(scope="session")
def gfpgan_ckpt(tmp_path_factory) -> Path:
    """One checkpoint per test session (shared through the session's base temp dir)."""
    root = tmp_path_factory.getbasetemp() / "gfpgan-random"
    root.mkdir(exist_ok=True)
    return write_random_gfpgan(root / "random-gfpgan.pth")


def write_tiny_reference(directory: Path) -> Path:
    """A resnet10t reference classifier at 32 px, random init, through save_reference."""
    import torch

    from train.reference import ReferenceSpec, build_model, save_reference

    torch.manual_seed(0)
    spec = ReferenceSpec(backbone="resnet10t", img_size=32)
    return save_reference(directory, [build_model(spec)], spec, note="test reference")


def ingest_small_fer(cli, name: str, ws: Path, tmp: Path, n: int = 12) -> None:
    csv_path = write_fer_csv(tmp / "fer2013.csv", fer_rows(n))
    r = cli(name, ws, "ingest", "fer2013", str(csv_path))
    assert r.exit_code == 0, r.output
