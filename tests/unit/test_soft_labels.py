"""Soft labels (`curate apply --soften`): the mixture, and the targets a view's rows get."""

from __future__ import annotations

import numpy as np
import pytest

from curate.apply import ApplyConfig, soft_target
from curate.core.errors import InputError
from curate.core.schema import encode_soft
from curate.core.taxonomy import CLASS_INDEX
from train.data import manifest_soft_targets, soft_targets

P = [0.1, 0.0, 0.1, 0.5, 0.1, 0.1, 0.1]  # the model thinks: happy


def test_mixture_keeps_the_given_class_first_below_one_half():
    t = soft_target("sad", P, 0.3)
    assert t == pytest.approx([0.03, 0.0, 0.03, 0.15, 0.73, 0.03, 0.03])
    assert sum(t) == pytest.approx(1.0) and int(np.argmax(t)) == CLASS_INDEX["sad"]
    for w in (0.1, 0.3, 0.49):  # even a model sure of another class cannot overturn the label
        sure = [0, 0, 0, 1.0, 0, 0, 0]
        assert int(np.argmax(soft_target("sad", sure, w))) == CLASS_INDEX["sad"]
    assert soft_target("sad", [2 * v for v in P], 0.3) == t  # probabilities are normalised
    assert soft_target("sad", P, 0.0) == [0, 0, 0, 0, 1.0, 0, 0]


def test_mixture_refuses_what_it_cannot_mix():
    assert soft_target("contempt", P, 0.3) is None      # not a class of the taxonomy
    assert soft_target("sad", None, 0.3) is None        # no out-of-fold probabilities
    assert soft_target("sad", P[:6], 0.3) is None
    assert soft_target("sad", [float("nan")] * 7, 0.3) is None
    assert soft_target("sad", [0.0] * 7, 0.3) is None
    with pytest.raises(InputError, match="--soften"):
        ApplyConfig(soften=1.0)
    with pytest.raises(InputError, match="--soften"):
        ApplyConfig(soften=-0.1)


def test_view_rows_get_their_own_their_parents_or_a_one_hot_target():
    own = soft_target("sad", P, 0.3)
    cols = {"id": ["a", "b", "c", "d"], "label": ["sad", "sad", "fear", "angry"],
            "soft": [own, None, None, None], "parent": [None, "a", None, "gone"]}
    t = soft_targets(cols, [0, 1, 2, 3], 7)
    np.testing.assert_allclose(t[0], own, rtol=1e-6)
    np.testing.assert_allclose(t[1], own, rtol=1e-6)    # an augmented copy: its parent's
    assert t[2].tolist() == np.eye(7)[CLASS_INDEX["fear"]].tolist()
    assert t[3].tolist() == np.eye(7)[CLASS_INDEX["angry"]].tolist()  # parent not in the view
    assert soft_targets({**cols, "soft": [None] * 4}, [0, 1], 7) is None
    assert soft_targets({**cols, "soft": None}, [0, 1], 7) is None
    assert soft_targets(cols, [2, 1], 7).shape == (2, 7)


def test_a_malformed_stored_soft_label_is_an_error_naming_the_sample():
    own = soft_target("sad", P, 0.3)
    cols = {"id": ["a", "b", "c"], "label": ["sad", "sad", "fear"],
            "soft": [own, None, own[:6]], "parent": [None, "a", None]}
    with pytest.raises(InputError, match="sample c: soft label"):
        soft_targets(cols, [0, 1, 2], 7)               # too short: not silently one-hot
    np.testing.assert_allclose(soft_targets(cols, [0, 1], 7)[1], own, rtol=1e-6)
    bad_parent = {**cols, "soft": [[0.5] * 7, None, None]}  # sums to 3.5
    with pytest.raises(InputError, match=r"sample a \(parent of sample b\)"):
        soft_targets(bad_parent, [1], 7)
    with pytest.raises(InputError, match="sample a"):
        soft_targets({**cols, "soft": [[float("nan")] * 7, None, None]}, [0], 7)


def _manifest(root, rows):
    root.mkdir(parents=True, exist_ok=True)
    lines = ["path,label,soft_label"] + [f"{p},sad,{t}" for p, t in rows]
    (root / "manifest.csv").write_text("\n".join(lines) + "\n")
    return root


def test_manifest_soft_labels_parse_with_the_one_strict_parser(tmp_path):
    own = soft_target("sad", P, 0.3)
    labels = np.array([CLASS_INDEX["sad"], CLASS_INDEX["fear"]])
    root = _manifest(tmp_path / "ok", [("train/sad/a.png", encode_soft(own)),
                                       ("train/fear/b.png", "")])
    t = manifest_soft_targets(root, ["train/sad/a.png", "train/fear/b.png"], labels)
    np.testing.assert_allclose(t[0], own, atol=1e-4)
    assert t[1].tolist() == np.eye(7)[CLASS_INDEX["fear"]].tolist()  # no soft label: one-hot
    assert manifest_soft_targets(tmp_path / "none", ["x"], labels[:1]) is None
    empty = _manifest(tmp_path / "empty", [("train/sad/a.png", "")])
    assert manifest_soft_targets(empty, ["train/sad/a.png"], labels[:1]) is None
    for name, text in (("short", ";".join(["0.25"] * 4)), ("words", "a;b;c;d;e;f;g"),
                       ("negative", "-0.5;1.5;0;0;0;0;0")):
        bad = _manifest(tmp_path / name, [("train/sad/a.png", text)])
        with pytest.raises(InputError, match=r"manifest.csv: soft_label of train/sad/a.png"):
            manifest_soft_targets(bad, ["train/sad/a.png"], labels[:1])
