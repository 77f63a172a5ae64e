"""The answering mode's pure parts: keys, the next face, progress, an App answer's record, the
undo pipeline; the review grid's rows and colours; a review decision's answers."""

from __future__ import annotations

from datetime import datetime

import pytest

from curate.core import schema
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES
from curate.review import answering, grid
from curate.review.decisions import decision_answers, decision_key
from curate.votes import db


def test_keys_1_to_7_are_the_classes_in_taxonomy_order_then_n_s_u():
    assert [answering.key_label(str(k)) for k in range(1, 8)] == list(CLASSES)
    assert answering.key_label("N") == answering.key_label("n") == schema.NONFACE
    assert answering.key_label("s") == schema.UNSURE
    assert answering.key_label("u") is None and answering.key_label("9") is None
    legend = answering.key_legend()
    assert [k for k, _ in legend] == ["1", "2", "3", "4", "5", "6", "7", "N", "S", "U"]
    assert legend[0] == ("1", CLASSES[0]) and legend[-1] == ("U", "undo")


def test_next_face_is_the_first_unanswered_in_order():
    order = ["a", "b", "c", "d"]
    assert answering.next_face(order, set()) == "a"
    assert answering.next_face(order, {"a", "c"}) == "b"
    assert answering.next_face(order, {"a"}, skip="b") == "c"
    assert answering.next_face(order, set(order)) is None


def test_progress_text_reports_answered_of_budget_and_the_pace():
    assert answering.Progress(0, 40).text() == "**0 / 40** answered"
    p = answering.Progress(3, 40, (2.0, 4.0, 3.0))
    assert p.per_face == 3.0
    assert "**3 / 40** answered" in p.text() and "3.0 s per face" in p.text()
    assert "20 faces/min" in p.text()


def test_pace_is_seconds_from_the_session_start_then_between_answers():
    t0 = datetime(2026, 1, 1, 12, 0, 0)
    answers = [("a", {"at": datetime(2026, 1, 1, 12, 0, 5)}),
               ("b", {"at": datetime(2026, 1, 1, 12, 0, 7, 500000)})]
    assert answering.pace(answers, t0) == (5.0, 2.5)
    assert answering.pace([], t0) == ()


def test_an_app_answer_is_one_store_record_keyed_by_its_event():
    at = datetime(2026, 1, 2, 3, 4, 5)
    a = answering.app_answer("s1", "happy", "ana", "t1", at)
    assert set(a) == set(schema.ANSWER_KEYS)
    assert (a["via"], a["task"], a["annotator"], a["label"], a["at"]) == (
        schema.APP_VIA, "t1", "ana", "happy", at)
    assert answering.app_answer("s1", "happy", "ana", "t1", at)["key"] == a["key"]  # a retry
    later = answering.app_answer("s1", "happy", "ana", "t1", datetime(2026, 1, 2, 3, 4, 6))
    assert later["key"] != a["key"]  # a second answer to the same face: a second record
    with pytest.raises(InputError, match="answer label"):
        answering.app_answer("s1", "contempt!", "ana", "t1")


def test_undo_pipeline_filters_out_one_key():
    (stage,) = db.remove_pipeline("k1")
    cond = stage["$set"][schema.ANSWERS]["$filter"]["cond"]
    assert cond == {"$ne": ["$$this.key", "k1"]}


def test_grid_rows_map_the_source_label_and_read_either_suggestion_form():
    class Cls:
        label, confidence = "sad", 0.7

    rows = grid.grid_rows(["fer2013", "fer2013", "fer2013"], ["3", "0", "9"],
                          [{"label": "happy"}, None, None], [Cls(), "fear", None])
    assert rows[0] == ("happy", ("sad", 0.7))  # FER-2013's 3 is happy
    assert rows[1] == ("angry", ("fear", None))
    assert rows[2] == (None, (None, None))  # no such source label, no suggestion
    assert grid.label_of({"label": "x"}) == "x" and grid.label_of(None) is None


def test_colour_scheme_gives_three_fixed_distinct_colours_and_keeps_other_fields():
    scheme = grid.color_scheme(None)
    colours = {e["path"]: e["fieldColor"] for e in scheme.fields}
    assert set(colours) == {schema.REVIEW_GIVEN, schema.LABEL, schema.REVIEW_SUGGESTED}
    assert len(set(colours.values())) == 3 and scheme.color_by == "field"
    again = grid.color_scheme(type("S", (), {"fields": [
        {"path": "other", "fieldColor": "#000000"}, {"path": schema.LABEL,
                                                     "fieldColor": "#ffffff"}]})())
    paths = [e["path"] for e in again.fields]
    assert paths.count(schema.LABEL) == 1 and "other" in paths


def test_a_review_decision_gives_an_answer_keep_given_accept_suggested_relabel_chosen():
    at = datetime(2026, 1, 1)
    rows = [("s1", None, "sad")]
    keep = decision_answers(rows, "keep", "ana", "b1", at)
    assert keep["s1"][0]["label"] == "sad" and keep["s1"][0]["via"] == schema.REVIEW_VIA
    assert keep["s1"][0]["key"] == decision_key("b1", "s1", "ana")
    accept = decision_answers([("s1", "happy", "sad")], "accept", "ana", "b1", at)
    assert accept["s1"][0]["label"] == "happy"
    relabel = decision_answers([("s1", "fear", "sad")], "relabel", "ana", "b1", at)
    assert relabel["s1"][0]["label"] == "fear"
    assert decision_answers(rows, "drop", "ana", "b1", at) == {}
    assert decision_key("b1", "s1", "ana") != decision_key("b2", "s1", "ana")
