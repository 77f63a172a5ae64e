"""Tables of answers: the generic format, FER+'s detected, a BOM, bad lines refused with their
line, unknown samples counted, and keys that make a re-import add nothing."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from fixtures import write_ferplus_csv

from curate.core.errors import InputError
from curate.votes.answers import new_answers
from curate.votes.importers import (
    is_ferplus,
    label_from_name,
    read_table,
    resolve,
    sample_index,
)

TABLE = """sample_id,annotator,label,time,task
s1,ann,Happy,2024-05-01T10:00:00Z,t1
s2,ann,not a face,,
s1,bob,anger,2024-05-01T12:00:00+02:00,t1

s9,bob,unsure,,
"""


def write(tmp_path: Path, text: str, name: str = "answers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def index():
    return sample_index(["s1", "s2", "s3"], ["fer2013", "fer2013", "folder"], ["0", "1", "0"],
                        ["train", "val", "test"])


def test_label_names_the_taxonomy_knows_and_the_two_others():
    assert label_from_name(" Happiness ") == "happy"
    assert label_from_name("ANGER") == "angry"
    assert label_from_name("not a face") == label_from_name("Non-Face") == "nonface"
    assert label_from_name("unsure") == label_from_name("Unknown") == "unsure"
    assert label_from_name("contempt") is None and label_from_name("") is None


def test_a_generic_table_is_read_with_lines_times_and_tasks(tmp_path):
    rows = read_table(write(tmp_path, TABLE), task="default")
    assert [r.line for r in rows] == [2, 3, 4, 6]  # the blank line is no row
    a = [r.answer for r in rows]
    assert [x["label"] for x in a] == ["happy", "nonface", "angry", "unsure"]
    assert a[0]["at"] == datetime(2024, 5, 1, 10, 0) and a[2]["at"] == datetime(2024, 5, 1, 10, 0)
    assert [x["task"] for x in a] == ["t1", "default", "t1", "default"]
    assert all(x["via"] == "import" for x in a)
    again = read_table(write(tmp_path, TABLE, "copy.csv"), task="default")
    assert [x["key"] for x in a] == [r.answer["key"] for r in again]  # same rows, same keys


def test_keys_follow_the_answer_not_its_line(tmp_path):
    """A row inserted above changes no key: a re-import of the grown file adds only it; the
    same answer twice in a file is two answers."""
    base = read_table(write(tmp_path, TABLE))
    lines = TABLE.splitlines()
    grown = read_table(write(tmp_path, "\n".join([lines[0], "s3,cat,sad,,", *lines[1:]]) + "\n",
                             "grown.csv"))
    fresh = new_answers([r.answer for r in base], [r.answer for r in grown])
    assert [x["annotator"] for x in fresh] == ["cat"]
    twice = read_table(write(tmp_path, "row,annotator,label\n5,a,sad\n5,a,sad\n", "twice.csv"))
    assert twice[0].answer["key"] != twice[1].answer["key"]


def test_a_byte_order_mark_is_read_past(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_text("\ufeff" + TABLE.replace("\n", "\r\n"), encoding="utf-8")
    assert [r.answer["label"] for r in read_table(path)] == ["happy", "nonface", "angry", "unsure"]
    assert not is_ferplus(path)


@pytest.mark.parametrize("line, message", [
    ("s1,ann,contemptuous,,", "answers.csv line 3: label 'contemptuous' is not a class"),
    ("s1,,happy,,", "answers.csv line 3: no annotator"),
    (",ann,happy,,", "answers.csv line 3: no sample"),
    ("s1,ann,happy,yesterday,", "answers.csv line 3: time 'yesterday' is not ISO 8601"),
])
def test_a_bad_line_is_refused_with_its_line(tmp_path, line, message):
    text = "sample_id,annotator,label,time,task\ns1,ann,happy,,\n" + line + "\n"
    with pytest.raises(InputError, match=message):
        read_table(write(tmp_path, text))


def test_a_table_without_the_needed_columns_is_refused(tmp_path):
    with pytest.raises(InputError, match="needs a sample column"):
        read_table(write(tmp_path, "image,who,label\na,b,happy\n"))


def test_fer_plus_format_is_detected_by_its_header(tmp_path):
    plus = write_ferplus_csv(tmp_path / "fer2013new.csv", 3)
    assert is_ferplus(plus)
    plus.write_text("\ufeff" + plus.read_text())
    assert is_ferplus(plus)


def test_resolve_by_id_row_and_source_id_and_count_the_unknown(tmp_path):
    text = ("sample_id,row,source_id,source,annotator,label\n"
            "s1,,,,a,happy\n"   # by id
            ",1,,,a,sad\n"      # FER-2013 row 1 = s2
            ",,1,,a,fear\n"     # source_id 1: only fer2013 has it
            ",,0,folder,a,angry\n"  # source_id 0 of the folder source = s3
            "nope,,,,a,happy\n"  # no such sample
            ",77,,,a,happy\n")   # no such row
    got = resolve(read_table(write(tmp_path, text)), index(), "answers.csv")
    assert {k: [a["label"] for a in v] for k, v in got.incoming.items()} == {
        "s1": ["happy"], "s2": ["sad", "fear"], "s3": ["angry"]}
    assert [r.line for r in got.unknown] == [6, 7]
    assert got.splits == {"train": 1, "val": 2, "test": 1}


def test_a_source_id_two_sources_share_needs_the_source_column(tmp_path):
    rows = read_table(write(tmp_path, "source_id,annotator,label\n0,a,happy\n"))
    with pytest.raises(InputError, match="answers.csv line 2: source_id '0' names samples of "
                                         "several sources"):
        resolve(rows, index(), "answers.csv")
