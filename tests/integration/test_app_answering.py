"""The answering mode and the review's answers on a real database: answers stored at once and
taken back by undo, review decisions as answers (idempotent, undone with the decision), the
review grid's fields and colours, `curate app --annotate`'s checks."""

from __future__ import annotations

from answer_fixtures import TASK, task_dataset
from review_fixtures import audited_dataset
from typer.testing import CliRunner

from curate.cli import app
from curate.core import schema, store
from curate.review import answering, decide, undo_last
from curate.review.decisions import decision_answers, store_answers
from curate.review.grid import FIELD_COLORS, write_grid_fields
from curate.votes import db


def _answers(ds, sid):
    ds.reload()
    return list(ds[sid][schema.ANSWERS] or [])


def test_answers_are_stored_at_once_and_undo_deletes_only_that_answer(tmp_path, dataset_name):
    ds, faces = task_dataset(tmp_path, dataset_name)
    assert answering.default_task(ds) == TASK and answering.task_faces(ds, TASK) == faces
    first = answering.give(ds, faces[0], "happy", "ana", TASK)
    # a second process (the CLI) sees it at once: nothing waits for the App to close
    fresh = store.load_dataset(dataset_name)
    fresh.reload()
    (stored,) = fresh[faces[0]][schema.ANSWERS]
    assert (stored["annotator"], stored["label"], stored["via"], stored["task"]) == (
        "ana", "happy", schema.APP_VIA, TASK)
    assert fresh[faces[0]][schema.FERPLUS_LABEL].label == "happy"
    answering.give(ds, faces[1], schema.NONFACE, "ana", TASK)
    answering.give(ds, faces[1], "sad", "bo", TASK)
    assert answering.answered_by(ds, faces, "ana") == {faces[0], faces[1]}
    assert answering.answered_by(ds, faces, "bo") == {faces[1]}
    # undo: ana's answer on faces[1] goes, bo's stays, the derived fields follow
    ana_1 = next(a for a in _answers(ds, faces[1]) if a["annotator"] == "ana")
    assert db.remove(ds, faces[1], ana_1["key"])
    assert [a["annotator"] for a in _answers(ds, faces[1])] == ["bo"]
    assert ds[faces[1]][schema.FERPLUS_LABEL].label == "sad"
    assert not db.remove(ds, faces[1], ana_1["key"])  # once
    assert db.remove(ds, faces[0], first["key"])  # its only answer: fields cleared
    assert _answers(ds, faces[0]) == [] and ds[faces[0]][schema.FERPLUS_VOTES] is None
    assert answering.next_face(faces, answering.answered_by(ds, faces, "ana")) == faces[0]


def test_review_decisions_are_answers_idempotent_and_undone_with_the_decision(tmp_path,
                                                                              dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    given = dict(zip(*ds.values(["id", schema.LABEL_PATH]), strict=True))
    suggested = dict(zip(*ds.values(["id", schema.SUGGESTED_LABEL]), strict=True))
    decide(ds, flagged[:1], "keep", reviewer="ana")
    decide(ds, flagged[1:2], "accept", reviewer="ana")
    decide(ds, flagged[2:3], "relabel", label="fear", reviewer="ana")
    decide(ds, flagged[3:4], "drop", reviewer="ana")
    labels = [[(a["label"], a["via"], a["annotator"]) for a in _answers(ds, i)]
              for i in flagged[:4]]
    assert labels == [[(given[flagged[0]], schema.REVIEW_VIA, "ana")],
                      [(suggested[flagged[1]], schema.REVIEW_VIA, "ana")],
                      [("fear", schema.REVIEW_VIA, "ana")], []]
    # the same decision written again (a retried write) adds nothing
    (entry,) = ds[flagged[2]][schema.REVIEW_LOG]
    again = decision_answers([(flagged[2], "fear", given[flagged[2]])], "relabel", "ana",
                             entry["batch"], entry["at"])
    store_answers(ds, again)
    assert len(_answers(ds, flagged[2])) == 1
    # a later decision on the same face is a second answer; undo takes back only its own
    decide(ds, flagged[2:3], "keep", reviewer="ana")
    assert [a["label"] for a in _answers(ds, flagged[2])] == ["fear", given[flagged[2]]]
    undo_last(ds, "ana")
    assert [a["label"] for a in _answers(ds, flagged[2])] == ["fear"]


def test_review_accepts_a_suggestion_stored_as_clean_writes_it(tmp_path, dataset_name):
    """`curate clean` writes `suggested_label` as a Classification (the fixtures: a string)."""
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    fo = store.fo()
    sug = ds[flagged[0]][schema.SUGGESTED_LABEL]
    ds.delete_sample_field(schema.SUGGESTED_LABEL)
    ds.add_sample_field(schema.SUGGESTED_LABEL, fo.EmbeddedDocumentField,
                        embedded_doc_type=fo.Classification)
    s = ds[flagged[0]]
    s[schema.SUGGESTED_LABEL] = fo.Classification(label=sug, confidence=0.8)
    s.save()
    res = decide(ds, flagged[:1], "accept", reviewer="ana")
    assert dict(res.labels) == {sug: 1}
    assert [a["label"] for a in _answers(ds, flagged[0])] == [sug]


def test_grid_fields_show_source_current_and_suggestion_in_fixed_colours(tmp_path,
                                                                        dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    n = len(ds.exists(schema.LABEL_ERROR_PROB))
    assert write_grid_fields(ds) == n
    assert write_grid_fields(ds) == 0  # unchanged: nothing rewritten
    ds.reload()
    s = ds[flagged[0]]
    assert s[schema.REVIEW_SUGGESTED].label == s[schema.SUGGESTED_LABEL]
    assert s[schema.REVIEW_GIVEN].label == s[schema.LABEL_PATH.split(".")[0]].label
    s[schema.LABEL] = store.fo().Classification(label=s[schema.SUGGESTED_LABEL])
    s.save()  # as `apply --auto` leaves it: current = suggestion; the source's label stays
    assert write_grid_fields(ds) == 0
    ds.reload()
    assert ds[flagged[0]][schema.REVIEW_GIVEN].label != ds[flagged[0]][schema.LABEL].label
    colours = {e["path"]: e["fieldColor"] for e in ds.app_config.color_scheme.fields}
    assert colours == FIELD_COLORS


def test_app_annotate_checks_its_task_before_starting(tmp_path, dataset_name):
    audited_dataset(tmp_path, dataset_name)
    cli = ["--dataset", dataset_name, "--workspace", str(tmp_path / "ws"), "--no-progress",
           "app"]
    r = CliRunner().invoke(app, [*cli, "--annotate"])
    assert r.exit_code != 0 and "curate annotate --budget N" in r.output
    r = CliRunner().invoke(app, [*cli, "--annotate", "--task", "nosuch"])
    assert r.exit_code != 0 and "task 'nosuch' has no faces" in r.output
    r = CliRunner().invoke(app, [*cli, "--task", "x"])
    assert r.exit_code != 0 and "pass it with --annotate" in r.output
