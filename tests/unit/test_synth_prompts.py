from __future__ import annotations

import json

import pytest

from augment.synth.prompts import (
    SEED_STRIDE,
    image_seed,
    load_prompt_file,
    seed_offset,
    template_prompts,
)
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES


def test_templates_cover_classes_with_a_diverse_grid():
    ps = template_prompts()
    assert set(ps.prompts) == set(CLASSES)
    first = [ps.for_image("fear", i).text for i in range(20)]
    assert len(set(first)) == 20 and all("fear" in t or "terrified" in t for t in first)
    for word in ("woman", "man"):
        assert any(f" {word}," in t for t in first)
    assert ps.for_image("fear", 3) == template_prompts().for_image("fear", 3)  # stable
    assert "cartoon" in ps.for_image("disgust", 0).negative


def test_seeds_are_stable_and_disjoint_per_class():
    assert image_seed(7, "disgust", 3) == 7 + SEED_STRIDE + 3
    assert seed_offset("angry", 0) == 0
    seeds = {image_seed(0, c, i) for c in CLASSES for i in range(50)}
    assert len(seeds) == 7 * 50
    with pytest.raises(InputError):
        seed_offset("fear", SEED_STRIDE)


def test_prompt_files_toml_json_and_unknown_class(tmp_path):
    toml = tmp_path / "p.toml"
    toml.write_text('negative = "ugly"\nfear = ["a scared face", "a frightened face"]\n'
                    '[disgust]\nprompts = ["a disgusted face"]\nnegative = "smile"\n')
    ps = load_prompt_file(toml)
    assert ps.for_image("fear", 3).text == "a frightened face"
    assert ps.for_image("fear", 0).negative == "ugly"
    assert ps.for_image("disgust", 5).negative == "smile"
    with pytest.raises(InputError, match="no prompts for class 'sad'"):
        ps.for_image("sad", 0)
    js = tmp_path / "p.json"
    js.write_text(json.dumps({"fear": ["x"], "joy": ["y"]}))
    with pytest.raises(InputError, match="unknown class\\(es\\) joy"):
        load_prompt_file(js)
    js.write_text(json.dumps({"fear": []}))
    with pytest.raises(InputError, match="non-empty list"):
        load_prompt_file(js)
    js.write_text("{not json")
    with pytest.raises(InputError, match="not valid TOML/JSON"):
        load_prompt_file(js)
