"""The store adapter's defaults: FiftyOne telemetry is off however fiftyone gets imported."""

from __future__ import annotations

import os
import subprocess
import sys


def test_telemetry_off_even_when_a_fiftyone_submodule_is_imported_first():
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_DO_NOT_TRACK"}
    code = ("from curate.core import store; store.check_database(); import fiftyone as fo; "
            "print(fo.config.do_not_track)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_issue_tags_are_written_a_chunk_of_ids_at_a_time(dataset_name, monkeypatch):
    # one select() of every id is one aggregate command, refused above 16 MB (~900k ids): the
    # tags go out in chunks (3 ids here), and a second table moves them exactly
    import fiftyone as fo
    import numpy as np

    from curate.core import issues, schema, store

    ds = store.load_dataset(dataset_name, create=True)
    ids = ds.add_samples([fo.Sample(filepath=f"/nowhere/{i}.png", source="t", source_id=str(i))
                          for i in range(8)])
    monkeypatch.setattr(store, "SELECT_CHUNK", 3)
    tag = schema.issue_tag("blurry")
    for flags in ([1, 1, 0, 1, 1, 0, 1, 1], [0, 0, 1, 0, 0, 0, 0, 1]):
        table = issues.IssueTable(check="quality", ids=ids, flags={"blurry": np.array(flags, bool)})
        assert issues.write_issues(ds, table) == {tag: sum(flags)}
        tagged = {s.id for s in ds.match_tags(tag)}
        assert tagged == {i for i, f in zip(ids, flags, strict=True) if f}


def test_reads_and_views_by_id_hold_past_one_commands_limit(dataset_name, monkeypatch):
    # values_by_id reads a chunk at a time, aligned to the ids asked (repeats, unknown ids);
    # subset() selects few ids, excludes the rest when they are many, and refuses when both
    # sides are over the limit (3 and 4 ids here for ~500k and 100k)
    import fiftyone as fo
    import pytest
    from bson import ObjectId

    from curate.core import store
    from curate.core.errors import StoreError

    ds = store.load_dataset(dataset_name, create=True)
    ids = ds.add_samples([fo.Sample(filepath=f"/nowhere/{i}.png", source="t", source_id=str(i))
                          for i in range(10)])
    monkeypatch.setattr(store, "SELECT_CHUNK", 3)
    monkeypatch.setattr(store, "SELECT_MAX", 4)
    stranger = str(ObjectId())
    asked = [ids[7], ids[0], stranger, ids[7], *ids[1:6]]
    got = store.values_by_id(ds, asked, ["source_id", "filepath"])
    assert got[0] == ["7", "0", None, "7", "1", "2", "3", "4", "5"]
    assert got[1][2] is None and got[1][0] == "/nowhere/7.png"

    few = store.subset(ds, [ids[5], ids[2]])
    assert few.values("id") == [ids[2], ids[5]]  # the dataset's order
    many = store.subset(ds, ids[:8])  # 8 > 4: the view excludes the other 2
    assert "Exclude" in repr(many) and many.values("id") == ids[:8]
    assert store.subset(ds, ids).values("id") == ids  # nothing left to exclude
    with pytest.raises(StoreError, match="one MongoDB command"):
        store.subset(ds, ids[:5])  # 5 to select, 5 to exclude: both over 4


def test_a_database_folder_other_than_the_running_services_is_refused(dataset_name, tmp_path):
    # FiftyOne attaches to the embedded database service already running (this test session's),
    # whatever FIFTYONE_DATABASE_DIR says: the command must say so, not write elsewhere
    from curate.core import store

    store.load_dataset(dataset_name, create=True)  # this session's service is up
    env = {**os.environ, "FIFTYONE_DATABASE_DIR": str(tmp_path / "db")}
    env.pop("FIFTYONE_DATABASE_URI", None)
    out = subprocess.run([sys.executable, "-m", "curate.cli", "--dataset", dataset_name, "status"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr
    err = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert err and "FIFTYONE_DATABASE_DIR=" in err[0] and "already running on" in err[0]
    assert not (tmp_path / "db").exists()
