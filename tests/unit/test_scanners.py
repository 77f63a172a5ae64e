"""The layout scanners on generated fixtures: every layout and every bad input, no DB."""

from pathlib import Path

import numpy as np
import pytest
from fixtures import face, fer_rows, folder_tree, rafdb_kaggle, rafdb_official, save, write_fer_csv

from curate.core.errors import InputError
from curate.ingest import fer2013, folder, rafdb
from curate.ingest.base import Candidate, Skip


def scan(fn, path):
    stats: dict = {}
    items = list(fn(Path(path), stats))
    return [i for i in items if isinstance(i, Candidate)], [i for i in items if isinstance(i, Skip)], stats


def test_fer_csv_rows_map_to_ids_splits_and_labels(tmp_path):
    rows = fer_rows(9)
    ok, skips, stats = scan(fer2013.scan, write_fer_csv(tmp_path / "fer2013.csv", rows))
    assert not skips and stats["rows"] == 9
    assert [c.source_id for c in ok] == [str(i) for i in range(9)]
    assert [c.split for c in ok[:3]] == ["train", "val", "test"]
    assert ok[1].label == "disgust" and ok[1].orig_label == "1"
    np.testing.assert_array_equal(ok[4].decode(), face(4))


def test_gzip_icml_and_kaggle_variants(tmp_path):
    rows = fer_rows(4)
    gz = write_fer_csv(tmp_path / "fer2013.csv.gz", rows, gz=True)
    icml = write_fer_csv(tmp_path / "icml_face_data.csv", [(e, u, p) for e, p, u in rows],
                         header=("emotion", " Usage", " pixels"))
    kaggle = write_fer_csv(tmp_path / "train.csv", [(e, p) for e, p, _ in rows],
                           header=("emotion", "pixels"))
    for path in (gz, icml):
        ok, skips, _ = scan(fer2013.scan, path)
        assert [c.split for c in ok] == ["train", "val", "test", "train"] and not skips
    ok, _, _ = scan(fer2013.scan, kaggle)
    assert {c.split for c in ok} == {"train"}


def test_bad_rows_are_counted_skips_with_reasons(tmp_path):
    good = fer_rows(1)[0][1]
    rows = [
        (0, good, "Training"),
        (0, " ".join(["1"] * 2000), "Training"),          # wrong pixel count
        (0, good.replace("1", "x", 1), "Training"),       # non-numeric
        (9, good, "Training"),                            # emotion outside 0..6
        (0, good, "Holdout"),                             # unknown Usage
        (0, good.replace(good.split()[0], "300", 1), "Training"),  # value > 255
        (0,),                                             # too few columns
    ]
    ok, skips, _ = scan(fer2013.scan, write_fer_csv(tmp_path / "f.csv", rows))
    decoded, failed = [], []
    for c in ok:
        try:
            decoded.append(c.decode())
        except ValueError as e:
            failed.append(str(e))
    assert len(decoded) == 1
    assert sorted(failed) == sorted(["2000 pixel values, expected 2304", "non-numeric pixel values",
                                     "pixel value 300 outside 0..255"])
    reasons = sorted(s.reason for s in skips)
    assert reasons[0].startswith("1 columns") and "outside 0..6" in reasons[1]
    assert "unknown Usage 'Holdout'" in reasons[2]
    assert [s.row for s in skips] == [3, 4, 6]


def test_unlabelled_or_empty_csv_is_a_clear_error(tmp_path):
    test_csv = write_fer_csv(tmp_path / "test.csv", [("1 2 3",)], header=("pixels",))
    with pytest.raises(InputError, match="unlabelled test.csv"):
        scan(fer2013.scan, test_csv)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty file"):
        scan(fer2013.scan, tmp_path / "empty.csv")


def test_truncated_gzip_is_a_clear_error(tmp_path):
    gz = write_fer_csv(tmp_path / "f.csv.gz", fer_rows(50), gz=True)
    data = gz.read_bytes()
    gz.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"corrupt or truncated after data row \d+; rows before"):
        scan(fer2013.scan, gz)


def test_gzip_truncated_before_the_first_data_row_says_so(tmp_path):
    gz = write_fer_csv(tmp_path / "f.csv.gz", fer_rows(3), gz=True)
    gz.write_bytes(gz.read_bytes()[:100])  # the header decompresses, row 0 does not
    with pytest.raises(InputError) as e:
        scan(fer2013.scan, gz)
    assert "truncated before the first data row" in str(e.value)
    assert "row -1" not in str(e.value)


def test_fer_folder_layout_takes_split_from_file_prefix(tmp_path):
    root = folder_tree(tmp_path / "fer", prefix={"train": "Training", "test": "PrivateTest"})
    save(root / "test" / "happy" / "PublicTest_9.png", face(9), "PNG")
    ok, skips, _ = scan(fer2013.scan, root)
    by_id = {c.source_id: c for c in ok}
    assert by_id["test/happy/PublicTest_9.png"].split == "val"
    assert by_id["train/angry/Training_0.png"].split == "train"
    assert sum(c.split == "test" for c in ok) == 14 and not skips


def test_folder_unknown_class_and_non_images_are_skipped(tmp_path):
    root = folder_tree(tmp_path / "t", classes=("happy", "contempt"), per_class=1)
    (root / "train" / "happy" / "notes.txt").write_text("x")
    ok, skips, _ = scan(folder.scan, root)
    assert {c.label for c in ok} == {"happy"}
    assert sorted(s.reason for s in skips) == ["not an image file (.txt)",
                                               "unknown class folder 'contempt'",
                                               "unknown class folder 'contempt'"]


def test_folder_wrong_layout_and_empty_tree(tmp_path):
    (tmp_path / "a" / "stuff").mkdir(parents=True)
    with pytest.raises(InputError, match="expected <split>/<class>"):
        scan(folder.scan, tmp_path / "a")
    (tmp_path / "b" / "train" / "happy").mkdir(parents=True)
    with pytest.raises(InputError, match="no image files"):
        scan(folder.scan, tmp_path / "b")


def test_rafdb_official_layout_and_bad_label_lines(tmp_path):
    root = rafdb_official(tmp_path / "basic", 7, 3)
    label_file = root / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text(label_file.read_text() + "\n".join([
        "train_00099.jpg 5",           # missing file
        "train_00001.jpg 8",           # label outside 1..7
        "../../../etc/passwd 1",       # escapes root
        "garbage",                     # malformed
    ]) + "\n")
    ok, skips, _ = scan(rafdb.scan, tmp_path)  # parent of basic/ works too
    assert len(ok) == 10
    assert ok[0].source_id == "Image/aligned/train_00001_aligned.jpg"
    assert ok[0].label == "surprise" and ok[2].label == "disgust" and ok[5].label == "angry"
    assert {c.split for c in ok} == {"train", "test"}
    reasons = " | ".join(s.reason for s in skips)
    for expected in ("file not found", "outside 1..7", "escapes the dataset root", "malformed"):
        assert expected in reasons


def test_rafdb_kaggle_layout_and_label_conflict(tmp_path):
    root = rafdb_kaggle(tmp_path / "raf", per_class=1)
    csv_path = root / "train_labels.csv"
    csv_path.write_text(csv_path.read_text().replace("train_1_0_aligned.jpg,1",
                                                     "train_1_0_aligned.jpg,2"))
    ok, skips, _ = scan(rafdb.scan, root)
    assert len(ok) == 13 and len(skips) == 1 and "says 2, folder says 1" in skips[0].reason
    assert {c.label for c in ok if c.split == "test"} == set(rafdb.RAFDB_IDS.values())


def test_rafdb_wrong_layout(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="not a RAF-DB layout"):
        scan(rafdb.scan, tmp_path / "x")
