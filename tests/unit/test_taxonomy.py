from curate.core.taxonomy import (
    CLASSES,
    FER2013_IDS,
    RAFDB_IDS,
    class_from_name,
    ferplus_majority,
    split_from_name,
)


def test_fer2013_and_rafdb_map_onto_the_same_seven_classes():
    assert list(FER2013_IDS.values()) == list(CLASSES)
    assert sorted(RAFDB_IDS.values()) == sorted(CLASSES)
    assert RAFDB_IDS[1] == "surprise" and RAFDB_IDS[3] == "disgust" and RAFDB_IDS[6] == "angry"


def test_folder_aliases():
    assert class_from_name("Happiness") == "happy"
    assert class_from_name("anger") == "angry"
    assert class_from_name("contempt") is None
    assert split_from_name("PublicTest") == "val"
    assert split_from_name("validation") == "val"
    assert split_from_name("misc") is None


def test_ferplus_majority_is_strict():
    assert ferplus_majority([6, 4, 0, 0, 0, 0, 0, 0, 0, 0]) == "neutral"
    assert ferplus_majority([5, 5, 0, 0, 0, 0, 0, 0, 0, 0]) is None  # a tie is no majority
    assert ferplus_majority([0, 0, 0, 0, 0, 0, 0, 0, 0, 7]) == "nonface"
    assert ferplus_majority([0, 0, 0, 0, 0, 0, 0, 6, 3, 1]) == "contempt"
    assert ferplus_majority([0] * 10) is None
