"""`curate votes import|status` and `curate annotate` end to end on a real database: import ->
status -> annotate -> export, FER+'s file through the same store, and a crash mid-import."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import typer
from fixtures import write_ferplus_csv
from review_fixtures import audited_dataset
from typer.testing import CliRunner

from curate.annotate import commands as annotate_commands
from curate.core import schema, store
from curate.core.clikit import global_options
from curate.core.taxonomy import FERPLUS_COLUMNS
from curate.votes import commands as votes_commands
from curate.votes import db

runner = CliRunner()
# the commands' own app (curate.cli registers them beside the others)
app = typer.Typer(pretty_exceptions_enable=False)
app.callback()(global_options)
votes_commands.register(app)
annotate_commands.register(app)


def cli(name: str, ws: Path, *args: str):
    """Run a command; `.text` is its output with rich's line wrapping undone."""
    r = runner.invoke(app, ["--dataset", name, "--workspace", str(ws), "--no-progress", *args])
    r.text = " ".join(r.output.split())
    return r


def answers_of(ds, source_id: str) -> list[dict]:
    return ds.match({schema.SOURCE_ID: source_id}).first()[schema.ANSWERS] or []


def write_answers(path: Path, rows: list[tuple]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["row", "annotator", "label", "time"])
        w.writerows(rows)
    return path


ROWS = [(0, "ann", "happy", "2024-05-01T10:00:00Z"), (0, "bob", "happy", ""),
        (0, "ann", "sad", "2024-05-01T11:00:00Z"),  # ann again, later: sad counts
        (1, "ann", "not a face", ""), (1, "bob", "Disgusted", ""),
        (2, "ann", "fear", ""),  # row 2 is a test sample: stored like the others
        (999, "ann", "happy", "")]  # no such sample


def test_import_status_annotate_export(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    audited_dataset(tmp_path, dataset_name, n=60)
    _import_and_status(tmp_path, ws, dataset_name)
    _annotate_and_export(tmp_path, ws, dataset_name)


def _import_and_status(tmp_path: Path, ws: Path, dataset_name: str) -> None:
    table = write_answers(tmp_path / "answers.csv", ROWS)
    r = cli(dataset_name, ws, "votes", "import", str(table))
    assert r.exit_code == 0, r.output
    assert "6 answers added, 0 already present, 1 for unknown samples" in r.text
    assert "unknown samples on lines 8" in r.text and "test 1" in r.text
    ds = store.load_dataset(dataset_name)
    assert len(answers_of(ds, "0")) == 3  # both of ann's answers kept
    s0 = ds.match({schema.SOURCE_ID: "0"}).first()
    assert s0[schema.FERPLUS_VOTES][FERPLUS_COLUMNS.index("sadness")] == 1  # ann's later one
    assert s0[schema.FERPLUS_VOTES][FERPLUS_COLUMNS.index("happiness")] == 1
    s1 = ds.match({schema.SOURCE_ID: "1"}).first()
    assert s1[schema.FERPLUS_VOTES][FERPLUS_COLUMNS.index("NF")] == 1 and s1.ferplus_nf == 1

    r = cli(dataset_name, ws, "votes", "import", str(table))  # a re-import adds nothing
    assert r.exit_code == 0 and "0 answers added, 6 already present" in r.text, r.output
    bad = write_answers(tmp_path / "bad.csv", [(3, "cat", "happy", ""), (4, "cat", "smug", "")])
    r = cli(dataset_name, ws, "votes", "import", str(bad))
    assert r.exit_code == 2 and "bad.csv line 3: label 'smug'" in r.text, r.output
    assert not answers_of(store.load_dataset(dataset_name), "3")  # nothing written

    r = cli(dataset_name, ws, "votes", "status")
    assert r.exit_code == 0, r.output
    assert "ann" in r.text and "bob" in r.text and "import" in r.text
    assert "CROWDLAB quality:" not in r.text  # out-of-fold probabilities present: shown


def _annotate_and_export(tmp_path: Path, ws: Path, dataset_name: str) -> None:
    tasks = tmp_path / "tasks.csv"
    r = cli(dataset_name, ws, "annotate", "--budget", "10", "--export", str(tasks))
    assert r.exit_code == 0, r.output
    assert "8 calibrate by stratified, 2 judge" in r.text and "10 written" in r.text
    task = "annotate-10-stratified-s0"
    ds = store.load_dataset(dataset_name)
    chosen = ds.match({schema.ASK_TASK: task})
    assert len(chosen) == 10 and len(ds.match_tags(schema.ask_tag(task))) == 10
    assert set(chosen.values(schema.SPLIT)) <= {"train", "val"}
    assert not set(chosen.values(schema.SOURCE_ID)) & {"0", "1"}  # answered faces not asked
    assert sorted(chosen.values(schema.ASK_ROLE)).count(schema.JUDGE) == 2
    exported = list(csv.DictReader(tasks.open()))
    assert len(exported) == 10 and set(exported[0]) == {"sample_id", "source_id", "filepath",
                                                         "task", "role"}
    first = tasks.read_text()
    r = cli(dataset_name, ws, "annotate", "--budget", "10", "--export", str(tasks))
    assert r.exit_code == 0 and "already chosen" in r.text and "nothing written" in r.text
    assert tasks.read_text() == first

    r = cli(dataset_name, ws, "annotate", "--budget", "5", "--strategy", "activelab")
    assert r.exit_code == 0, r.output
    other = store.load_dataset(dataset_name).match({schema.ASK_TASK: "annotate-5-activelab-s0"})
    assert len(other) == 5 and not set(other.values("id")) & set(chosen.values("id"))

    # the task's answers come back through the importer, by sample id
    back = tmp_path / "back.csv"
    back.write_text("sample_id,annotator,label,task\n" + "".join(
        f"{row['sample_id']},dee,neutral,{task}\n" for row in exported))
    r = cli(dataset_name, ws, "votes", "import", str(back))
    assert r.exit_code == 0 and "10 answers added" in r.text, r.output
    r = cli(dataset_name, ws, "annotate", "--budget", "10", "--seed", "1")
    assert r.exit_code == 0, r.output
    again = store.load_dataset(dataset_name).match({schema.ASK_TASK: "annotate-10-stratified-s1"})
    assert not set(again.values("id")) & set(chosen.values("id"))


def test_annotate_other_settings_under_one_task_name_are_refused(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    audited_dataset(tmp_path, dataset_name, n=30)
    assert cli(dataset_name, ws, "annotate", "--budget", "4", "--task", "t").exit_code == 0
    r = cli(dataset_name, ws, "annotate", "--budget", "5", "--task", "t")
    assert r.exit_code == 2 and "task 't' was chosen with other settings" in r.text


def test_fer_plus_file_through_votes_import_shares_the_store(tmp_path, dataset_name):
    ws = tmp_path / "ws"
    audited_dataset(tmp_path, dataset_name, n=12)
    table = write_answers(tmp_path / "answers.csv", [(0, "ann", "happy", "")])
    assert cli(dataset_name, ws, "votes", "import", str(table)).exit_code == 0
    plus = write_ferplus_csv(tmp_path / "fer2013new.csv", 12)
    r = cli(dataset_name, ws, "votes", "import", str(plus))
    assert r.exit_code == 0 and "(ferplus): 120 answers added" in r.text, r.output
    ds = store.load_dataset(dataset_name)
    s0 = ds.match({schema.SOURCE_ID: "0"}).first()
    assert s0[schema.FERPLUS_VOTES] == [6, 5, 0, 0, 0, 0, 0, 0, 0, 0]  # 10 FER+ votes + ann's
    assert {a["via"] for a in s0[schema.ANSWERS]} == {"ferplus", "import"}
    r = cli(dataset_name, ws, "votes", "import", str(plus))
    assert r.exit_code == 0 and "0 answers added" in r.text, r.output
    r = cli(dataset_name, ws, "votes", "status")
    assert r.exit_code == 0 and "ferplus:10" in r.text and "121" in r.text, r.output


@pytest.mark.parametrize("crash_at", [2, 3])
def test_a_crash_between_batches_then_a_rerun_doubles_nothing(tmp_path, dataset_name,
                                                                monkeypatch, crash_at):
    """The import dies after some batches (a kill between two atomic writes); the re-run
    completes it and every sample ends with exactly its answers."""
    ws = tmp_path / "ws"
    audited_dataset(tmp_path, dataset_name, n=30)
    rows = [(i, who, "angry", "") for i in range(30) for who in ("a", "b")]
    table = write_answers(tmp_path / "answers.csv", rows)
    monkeypatch.setattr(db, "BATCH", 7)
    real_write, calls = db.write_answers, []

    def die_later(ds, fresh):
        calls.append(1)
        if len(calls) == crash_at:
            raise KeyboardInterrupt  # as a kill between two batches
        return real_write(ds, fresh)

    monkeypatch.setattr(db, "write_answers", die_later)
    r = cli(dataset_name, ws, "votes", "import", str(table))
    assert r.exit_code == 130, r.output
    ds = store.load_dataset(dataset_name)
    stored = [len(a or []) for a in ds.values(schema.ANSWERS)]
    assert sorted(set(stored)) == [0, 2] and stored.count(2) == 7 * (crash_at - 1)
    monkeypatch.setattr(db, "write_answers", real_write)
    r = cli(dataset_name, ws, "votes", "import", str(table))
    assert r.exit_code == 0, r.output
    assert f"{60 - 14 * (crash_at - 1)} answers added" in r.text
    ds = store.load_dataset(dataset_name)
    assert [len(a) for a in ds.values(schema.ANSWERS)] == [2] * 30
    votes = ds.values(schema.FERPLUS_VOTES)
    assert all(v[FERPLUS_COLUMNS.index("anger")] == 2 and sum(v) == 2 for v in votes)
