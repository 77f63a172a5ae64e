"""The plugin's operators through FiftyOne's own operator executor (what the App calls): they
validate their input, write the decisions and commit them with `curate apply`."""

from __future__ import annotations

import pytest
from review_fixtures import audited_dataset

from curate.app import register_plugin
from curate.core import schema, store


@pytest.fixture
def run_op():
    register_plugin()
    import fiftyone.operators as foo

    def run(name: str, ds, selected=(), **params):
        return foo.execute_operator(f"@curate/review/{name}", dataset=ds.name,
                                    selected=list(selected), params=params)

    return run


def test_operators_decide_undo_and_commit(tmp_path, dataset_name, run_op):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    res = run_op("relabel_as", ds, flagged[:2], label="fear", reviewer="ana")
    assert res.error is None and res.result["decided"] == 2
    res = run_op("keep_label", ds, flagged[2:4], reviewer="ana")
    assert res.result["decided"] == 2
    res = run_op("undo_decision", ds, reviewer="ana")  # takes back the keep
    assert "undid 2 decisions of ana" in res.result["message"]
    res = run_op("commit_review", ds, reviewer="ana")
    assert "relabelled 2" in res.result["message"]
    ds = store.load_dataset(dataset_name)
    assert [ds[i][schema.LABEL_PATH] for i in flagged[:2]] == ["fear", "fear"]
    assert not any(t.startswith(schema.REVIEW_PREFIX) for i in flagged[2:4] for t in ds[i].tags)


def test_operators_say_what_is_wrong_with_their_input(tmp_path, dataset_name, run_op):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    test_ids = ds.match({schema.SPLIT: "test"}).values("id")[:1]
    for name, sel, params, message in (
            ("accept_suggested", [], {}, "no samples selected"),
            ("drop_samples", test_ids, {}, "outside train/val"),
            ("undo_decision", [], {"reviewer": "nobody"}, "nothing to undo")):
        res = run_op(name, ds, sel, **params)
        assert message in res.result["error"], (name, res.result)
    from fiftyone.operators.executor import ExecutionError

    with pytest.raises(ExecutionError, match="Invalid enum value"):  # the form's own check
        run_op("relabel_as", ds, flagged[:1], label="contempt")
    ds.reload()
    assert schema.REVIEW_LOG not in ds.get_field_schema() or not any(ds.values(schema.REVIEW_LOG))


def test_next_batch_loads_the_queue(tmp_path, dataset_name, run_op):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    res = run_op("next_review_batch", ds, size=4, order="static")
    p = dict(zip(*ds.values(["id", schema.LABEL_ERROR_PROB]), strict=True))
    assert res.result["ids"] == sorted(flagged, key=lambda i: -p[i])[:4]


def test_run_stage_runs_the_cli_and_reports_its_exit(tmp_path, dataset_name, run_op,
                                                      monkeypatch):
    from curate.review.decisions import WORKSPACE_ENV

    ds, _ = audited_dataset(tmp_path, dataset_name)
    monkeypatch.setenv(WORKSPACE_ENV, str(tmp_path / "ws"))
    out = tmp_path / "export-raw"
    res = run_op("run_stage", ds, stage="export", args=f"--view raw --out {out}")
    assert res.result["exit_code"] == 0, res.result["output"]
    assert (out / "manifest.csv").is_file()
    ds.reload()
    assert "export" in (ds.info.get("runs") or {})  # the same run record as the CLI's
    res = run_op("run_stage", ds, stage="export", args="--view nosuchview")
    assert res.result["exit_code"] != 0


def test_app_review_mode_is_checked_before_anything_starts(dataset_name):
    from curate.app import launch
    from curate.core.errors import InputError

    with pytest.raises(InputError, match="--review 'duplicates': use one of label"):
        launch(dataset_name, review="duplicates", wait=False)
