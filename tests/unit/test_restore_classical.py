"""Classical upsampling, output naming, the expression-check summary, OOM batch halving."""

from __future__ import annotations

import numpy as np
import pytest

from curate.core.errors import InputError, ModelError
from curate.restore import RestoreConfig, check, classical
from curate.restore.gfpgan import postprocess, preprocess, run_halving
from curate.restore.stage import output_name


@pytest.mark.parametrize("method", ["lanczos", "bicubic"])
@pytest.mark.parametrize("size, color, shape", [(48, "gray", (48, 48)), (224, "gray", (224, 224)),
                                                (512, "rgb", (512, 512, 3))])
def test_classical_sizes_and_modes(method, size, color, shape):
    img = (np.arange(48 * 48) % 251).astype(np.uint8).reshape(48, 48)
    out = classical.upsample(img, size, method, color)
    assert out.shape == shape and out.dtype == np.uint8
    if color == "rgb":  # a gray face stays gray in RGB
        assert np.array_equal(out[..., 0], out[..., 1])


def test_unsharp_changes_pixels_and_rgb_input_goes_gray():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
    plain = classical.upsample(img, 96)
    sharp = classical.upsample(img, 96, unsharp=True)
    assert plain.shape == sharp.shape == (96, 96) and not np.array_equal(plain, sharp)


def test_gfpgan_pre_and_post_processing_shapes_and_range():
    imgs = [np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)]
    x = preprocess(imgs)
    assert x.shape == (2, 3, 512, 512) and x.min() == -1.0 and x.max() == 1.0
    gray = postprocess(x, 224, "gray")
    rgb = postprocess(x, 128, "rgb")
    assert gray[0].shape == (224, 224) and rgb[1].shape == (128, 128, 3)
    assert gray[0].max() == 0 and rgb[1].min() == 255


def test_out_of_memory_halves_the_batch_and_continues():
    calls = []

    def fn(chunk):
        calls.append(len(chunk))
        if len(chunk) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return [c * 10 for c in chunk]

    out, bs = run_halving(fn, list(range(7)), 8)
    assert out == [c * 10 for c in range(7)] and bs == 2 and calls[:3] == [7, 4, 2]
    with pytest.raises(ModelError, match="batch size 1"):
        run_halving(lambda c: (_ for _ in ()).throw(RuntimeError("out of memory")), [1], 1)
    with pytest.raises(ValueError):  # other errors are not swallowed
        run_halving(lambda c: (_ for _ in ()).throw(ValueError("bad")), [1, 2], 2)


def test_output_names_are_deterministic_and_file_safe():
    assert output_name("fer2013", "17", "abc") == "fer2013/17.png"
    a = output_name("rafdb", "Image/aligned/train_1.jpg", "x")
    assert a.startswith("rafdb/Image_aligned_train_1.jpg-") and a.count("/") == 1
    assert a == output_name("rafdb", "Image/aligned/train_1.jpg", "y")
    assert a != output_name("rafdb", "Image_aligned/train_1.jpg", "x")
    assert output_name("synthetic", None, "65a0") == "synthetic/65a0.png"


def test_summary_counts_and_rates_per_class():
    classes = ["angry", "happy", "sad"]
    labels = ["angry", "angry", "happy", "sad", None]
    s = check.summarize(labels, np.array([0, 0, 1, 2, 1]), np.array([0, 1, 1, 1, 1]), classes)
    assert (s.status, s.checked, s.changed, s.rate) == ("done", 5, 2, 0.4)
    assert s.per_class["angry"] == check.ClassChange(checked=2, changed=1, rate=0.5)
    assert s.per_class["happy"].changed == 0 and s.per_class["none"].checked == 1
    assert s.transitions == {"angry->happy": 1, "sad->happy": 1}
    stored = s.to_dict()  # what the run history and the report hold
    assert stored["per_class"]["angry"] == {"checked": 2, "changed": 1, "rate": 0.5}
    assert "tag" not in stored and check.CheckSummary.from_dict(stored) == s


def test_the_check_scores_an_issue_table_of_changed_predictions():
    table = check.score(["a", "b", "c"], np.array([0, 1, 2]), np.array([0, 2, 2]))
    assert table.flagged("restore_changed") == ["b"]
    assert table.counts() == {"issue:restore_changed": 1} and not table.columns
    assert (table.stats["checked"], table.stats["changed"]) == (3, 1)
    empty = check.score([], np.zeros(0, int), np.zeros(0, int))
    assert empty.stats == {"checked": 0, "changed": 0, "rate": 0.0}


def test_a_check_that_did_not_run_keeps_its_status_only():
    skipped = check.CheckSummary(status="skipped by request (--no-check)")
    assert skipped.to_dict() == {"status": "skipped by request (--no-check)"}
    assert not skipped.done and check.CheckSummary.from_dict({}).status == ""


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 600}, "between 48 and 512"), ({"method": "esrgan"}, "choose one of"),
    ({"label": "bored"}, "--label 'bored'"), ({"method": "lanczos", "download": True}, "apply to"),
    ({"unsharp": True}, "classical"), ({"color": "cmyk"}, "gray or rgb"),
])
def test_config_validates_itself(kwargs, message):
    with pytest.raises(InputError, match=message):
        RestoreConfig(**kwargs)
