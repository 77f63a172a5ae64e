"""A dataset with a label audit and a `curate annotate` task (the answering-mode tests)."""

from __future__ import annotations

from review_fixtures import audited_dataset
from typer.testing import CliRunner

from curate.cli import app
from curate.core import schema, store

TASK = "t-answer"


def task_dataset(tmp_path, name: str, n: int = 40, budget: int = 24):
    """`audited_dataset` plus a task of `budget` faces chosen at random by `curate annotate`;
    returns (dataset, the task's face ids in id order)."""
    audited_dataset(tmp_path, name, n=n)
    r = CliRunner().invoke(app, ["--dataset", name, "--workspace", str(tmp_path / "ws"),
                                 "--no-progress", "annotate", "--budget", str(budget),
                                 "--strategy", "random", "--task", TASK])
    assert r.exit_code == 0, r.output
    ds = store.load_dataset(name)
    return ds, sorted(ds.match({schema.ASK_TASK: TASK}).values("id"))
