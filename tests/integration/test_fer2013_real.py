"""The real FER-2013 (../shared/datasets/fer2013), skipped when absent: counts as documented."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from curate.cli import app
from curate.core import store

pytestmark = pytest.mark.fer2013


def test_real_fer2013_ingest_counts(tmp_path, dataset_name, fer_csv_real):
    r = CliRunner().invoke(app, ["--dataset", dataset_name, "--workspace", str(tmp_path),
                                 "--no-progress", "ingest", "fer2013", str(fer_csv_real)])
    assert r.exit_code == 0, r.output
    assert "added 35659" in r.output and "skipped 0" in r.output
    ds = store.load_dataset(dataset_name)
    assert ds.count_values("split") == {"train": 28509, "val": 3578, "test": 3572}
    assert ds.count_values("ground_truth.label") == {
        "angry": 4939, "disgust": 549, "fear": 5099, "happy": 8954, "sad": 6016,
        "surprise": 3954, "neutral": 6148}
    assert len(set(ds.values("source_id"))) == 35659  # duplicates stay separate samples
