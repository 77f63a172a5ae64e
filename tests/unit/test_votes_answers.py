"""The answers store's pure logic: keys, de-duplication, the answer that counts, derived fields,
agreement with the consensus, and the FER+ answers' round trip to the same vote counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from curate.core import votes
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES, FERPLUS_COLUMNS, ferplus_majority
from curate.votes.answers import (
    annotator_matrix,
    answer_key,
    consensus_agreement,
    derive,
    make_answer,
    new_answers,
    utc_naive,
)
from curate.votes.ferplus import Votes, ferplus_answers

T0 = datetime(2024, 5, 1, 12, 0)


def ans(who: str, label: str, minutes: int = 0, key: str | None = None, via: str = "import"):
    return make_answer(annotator=who, label=label, via=via, at=T0 + timedelta(minutes=minutes),
                       key=key or answer_key(who, label, minutes))


def test_keys_are_stable_and_distinguish_their_parts():
    assert answer_key("import", "t", "ann", 5) == answer_key("import", "t", "ann", 5)
    assert answer_key("import", "t", "ann", 5) != answer_key("import", "t", "ann", 6)
    assert answer_key("a", "bc") != answer_key("ab", "c")


def test_new_answers_drop_stored_keys_and_repeats_within_the_input():
    stored = [ans("a", "happy", key="k1")]
    incoming = [ans("a", "happy", key="k1"), ans("b", "sad", key="k2"), ans("b", "sad", key="k2"),
                ans("c", "fear", key="k3")]
    got = new_answers(stored, incoming)
    assert [a["key"] for a in got] == ["k2", "k3"]
    assert new_answers(None, []) == []
    assert new_answers([*stored, *got], incoming) == []  # a re-import adds nothing


def test_the_later_answer_of_an_annotator_counts_and_both_are_kept():
    early, late = ans("a", "happy", 0, "k1"), ans("a", "sad", 5, "k2")
    assert votes.latest_per_annotator([late, early])["a"]["label"] == "sad"  # by time, not order
    same_time = [ans("a", "happy", 0, "k1"), ans("a", "angry", 0, "k2")]
    assert votes.latest_per_annotator(same_time)["a"]["label"] == "angry"  # then by stored order
    d = derive([early, late, ans("b", "sad", 1, "k3")])
    assert d is not None and sum(d.votes) == 2  # one per annotator
    assert d.votes[FERPLUS_COLUMNS.index("sadness")] == 2
    assert d.label == "sad" and d.agreement == 1.0
    assert derive([]) is None and derive(None) is None


def test_derived_fields_match_fer_plus_arithmetic():
    """nonface -> NF, unsure -> unknown, contempt its own column; the majority and the
    agreement as `curate.votes.ferplus.Votes` computes them."""
    labels = ["happy", "happy", "happy", "nonface", "unsure", "contempt"]
    d = derive([ans(f"p{i}", lab, i, f"k{i}") for i, lab in enumerate(labels)])
    assert d is not None
    expected = [0] * 10
    for col, n in (("happiness", 3), ("NF", 1), ("unknown", 1), ("contempt", 1)):
        expected[FERPLUS_COLUMNS.index(col)] = n
    assert d.votes == expected
    assert d.label == ferplus_majority(expected) is None  # 3 of 6: no strict majority
    assert d.agreement == Votes(tuple(expected)).agreement == 0.5


@pytest.mark.parametrize("counts", [(6, 4, 0, 0, 0, 0, 0, 0, 0, 0), (0, 0, 0, 0, 0, 0, 0, 1, 2, 7),
                                    (1, 1, 1, 1, 1, 1, 1, 1, 1, 1), (0, 12, 0, 0, 0, 0, 0, 0, 0, 0)])
def test_ferplus_answers_derive_the_votes_they_came_from(counts):
    v = Votes(counts)
    answers = ferplus_answers(7, v, T0)
    assert [a["annotator"] for a in answers] == [f"ferplus:{j}" for j in range(1, sum(counts) + 1)]
    assert len({a["key"] for a in answers}) == len(answers)
    d = derive(answers)
    assert d is not None and d.votes == list(counts)
    assert d.label == v.majority and d.agreement == v.agreement
    assert ferplus_answers(7, v, T0 + timedelta(days=1))[0]["key"] == answers[0]["key"]
    assert ferplus_answers(8, v, T0)[0]["key"] != answers[0]["key"]


def test_a_corrected_fer_plus_row_counts_its_new_votes():
    old = ferplus_answers(3, Votes((6, 4, 0, 0, 0, 0, 0, 0, 0, 0)), T0)
    new = ferplus_answers(3, Votes((5, 5, 0, 0, 0, 0, 0, 0, 0, 0)), T0 + timedelta(hours=1))
    stored = [*old, *new_answers(old, new)]
    assert len(stored) == 11  # only the vote that changed is new
    d = derive(stored)
    assert d is not None and d.votes[:2] == [5, 5]


def test_answer_columns_cover_every_label_once():
    assert sorted(votes.ANSWER_COLUMN.values()) == list(range(10))
    assert votes.answer_counts(["angry", "nonface"]) == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
    for i, c in enumerate(CLASSES):
        assert votes.ANSWER_COLUMN[c] == votes.CLASS_COLUMN[i]


def test_make_answer_refuses_labels_and_sources_outside_the_store():
    with pytest.raises(InputError, match="label 'contemptuous'"):
        make_answer(annotator="a", label="contemptuous", via="import", key="k")
    with pytest.raises(InputError, match="source 'email'"):
        make_answer(annotator="a", label="happy", via="email", key="k")
    with pytest.raises(InputError, match="annotator"):
        make_answer(annotator="", label="happy", via="import", key="k")


def test_times_are_stored_as_naive_utc():
    plus2 = datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc_naive(plus2) == datetime(2024, 5, 1, 12, 0)
    assert utc_naive(T0) == T0
    assert abs(utc_naive(None) - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=5)


def test_consensus_agreement_compares_each_with_the_others():
    faces = [{"a": "happy", "b": "happy", "c": "sad"},
             {"a": "fear", "b": "angry"},  # a tie of one each: agreeing with either counts
             {"a": "happy"}]  # nobody else: not compared
    got = consensus_agreement(faces)
    assert got["a"] == (1, 2)  # face 0: others b=happy, c=sad tie -> agrees; face 1: b=angry
    assert got["b"] == (1, 2)
    assert got["c"] == (0, 1)


def test_annotator_matrix_keeps_classes_only():
    m = annotator_matrix([{"a": "happy", "b": "nonface"}, {"b": "sad"}], ["a", "b"])
    assert m.shape == (2, 2)
    assert m[0, 0] == CLASSES.index("happy") and np.isnan(m[0, 1])
    assert np.isnan(m[1, 0]) and m[1, 1] == CLASSES.index("sad")
