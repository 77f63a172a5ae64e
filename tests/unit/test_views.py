"""The raw label recovered from what the source said (pure twin of the view expression)."""

from __future__ import annotations

import pytest

from curate.core.taxonomy import CLASSES, RAFDB_IDS
from curate.core.views import raw_label


@pytest.mark.parametrize("i,cls", list(enumerate(CLASSES)))
def test_fer2013_ids(i, cls):
    assert raw_label("fer2013", str(i)) == cls


@pytest.mark.parametrize("i,cls", list(RAFDB_IDS.items()))
def test_rafdb_ids(i, cls):
    assert raw_label("rafdb", f" {i} ") == cls


def test_folder_names_and_fallback():
    assert raw_label("folder", "Happiness") == "happy"
    assert raw_label("fer2013", "angry") == "angry"  # FER-2013 folder layout
    assert raw_label("folder", "3") is None  # a digit means nothing for folders
    assert raw_label("folder", "contempt", fallback="neutral") == "neutral"
