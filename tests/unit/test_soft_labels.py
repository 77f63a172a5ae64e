"""Soft labels (`curate apply --soften`): the mixture, and the targets a view's rows get."""

from __future__ import annotations

import numpy as np
import pytest

from curate.apply import ApplyConfig, soft_target
from curate.core.errors import InputError
from curate.core.taxonomy import CLASS_INDEX
from train.data import soft_targets

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
