"""Tiny random SD-1.5, SDXL and single-file pipelines through the real loading code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from synth_fixtures import make_sd15, make_sdxl, make_single_file

from augment.synth.models import load_generator, resolve_model, sha256_file
from curate.core.errors import InputError, ModelError


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    sd15 = make_sd15(root / "tiny-sd15")
    return {"sd15": sd15, "sdxl": make_sdxl(root / "tiny-sdxl"),
            "single": make_single_file(sd15, root / "tiny-sd15.safetensors")}


def _two_runs(gen, seeds=(11, 12)):
    a = gen.generate(["a face", "a face"], ["blurry", "blurry"], list(seeds), 2, 7.5)
    b = gen.generate(["a face", "a face"], ["blurry", "blurry"], list(seeds), 2, 7.5)
    return a, b


@pytest.mark.parametrize("kind", ["sd15", "sdxl"])
def test_folder_pipelines_generate_and_seeds_reproduce(models, kind):
    src = resolve_model(str(models[kind]))
    assert (src.kind, src.family) == ("folder", kind)
    assert src.hashed_files[0] == "model_index.json" and len(src.sha256) == 64
    gen = load_generator(src, "cpu")
    assert gen.has_safety_checker is False
    a, b = _two_runs(gen)
    assert a[0].image.shape == (64, 64, 3) and a[0].image.dtype == np.uint8
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].image, a[1].image)  # different seeds differ
    assert a[0].nsfw is None
    single = gen.generate(["a face"], ["blurry"], [12], 2, 7.5)  # same seed alone
    assert np.abs(single[0].image.astype(int) - a[1].image.astype(int)).max() <= 1


def test_single_file_needs_config_and_matches_the_folder(models):
    with pytest.raises(InputError, match="also pass --config"):
        resolve_model(str(models["single"]))
    src = resolve_model(str(models["single"]), config=models["sd15"])
    assert src.kind == "single_file" and src.sha256 == sha256_file(models["single"])
    a = load_generator(src, "cpu").generate(["a face"], [""], [5], 2, 7.5)
    b = load_generator(resolve_model(str(models["sd15"])), "cpu").generate(["a face"], [""],
                                                                            [5], 2, 7.5)
    assert np.array_equal(a[0].image, b[0].image)


def test_family_defaults_and_override(models, tmp_path):
    turbo = tmp_path / "sd-turbo"
    turbo.symlink_to(models["sd15"], target_is_directory=True)
    src = resolve_model(str(turbo))
    assert src.family == "turbo" and src.defaults() == (2, 0.0)
    assert resolve_model(str(models["sd15"]), family="lcm").defaults() == (4, 1.5)
    assert resolve_model(str(models["sd15"])).defaults() == (30, 7.5)


def test_bad_models(models, tmp_path, monkeypatch):
    with pytest.raises(ModelError, match="is not a diffusers model"):
        resolve_model(str(tmp_path))
    txt = tmp_path / "weights.txt"
    txt.write_text("x")
    with pytest.raises(ModelError, match="is not a diffusers model"):
        resolve_model(str(txt))
    with pytest.raises(InputError, match="no such file or folder"):
        resolve_model(str(tmp_path / "nothing" / "here"))
    bad = tmp_path / "other"
    bad.mkdir()
    (bad / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(ModelError, match="FluxPipeline is not supported"):
        resolve_model(str(bad))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="hf download someone/sd-turbo-x"):
        resolve_model("someone/sd-turbo-x")
