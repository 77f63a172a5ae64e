"""A dataset with a label audit, written as `curate clean --checks labels` writes one (the review
tests: decisions, queue, audit, the App plugin in a browser)."""

from __future__ import annotations

import numpy as np
from fixtures import fer_rows, write_fer_csv
from typer.testing import CliRunner

from curate.cli import app
from curate.core import schema, store
from curate.core.taxonomy import CLASSES

LABEL_TAG = schema.issue_tag("label")


def audited_dataset(tmp_path, name: str, n: int = 40):
    """A FER-2013 dataset with a label audit written as `curate clean` writes it: error
    probabilities, out-of-fold probabilities, suggestions, and `issue:label` on the top half."""
    csv_path = write_fer_csv(tmp_path / "f.csv", fer_rows(n))
    r = CliRunner().invoke(app, ["--dataset", name, "--workspace", str(tmp_path / "ws"),
                                 "--no-progress", "ingest", "fer2013", str(csv_path)])
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(name)
    ids, labels = ds.values(["id", schema.LABEL_PATH])
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.95, len(ids))
    oof = rng.dirichlet(np.ones(len(CLASSES)), len(ids))
    suggested = [CLASSES[(CLASSES.index(lab) + 1) % len(CLASSES)] for lab in labels]
    ds.set_values(schema.LABEL_ERROR_PROB, dict(zip(ids, p.tolist(), strict=True)),
                  key_field="id")
    ds.set_values(schema.OOF, dict(zip(ids, oof.tolist(), strict=True)), key_field="id")
    ds.set_values(schema.SUGGESTED_LABEL, dict(zip(ids, suggested, strict=True)), key_field="id")
    splits = ds.values(schema.SPLIT)
    flagged = [i for i, pi, s in zip(ids, p, splits, strict=True) if pi > 0.5 and s != "test"]
    ds.select(flagged).tag_samples(LABEL_TAG)
    return ds, flagged
