"""The unified expression taxonomy and the label maps of every supported source."""

from __future__ import annotations

# The split names, defined once. The test split is audited and reported, never changed unless
# the user asks (`--include-test`); the label checks and the review work on EDITABLE_SPLITS.
TRAIN, VAL, TEST = "train", "val", "test"
SPLITS: tuple[str, ...] = (TRAIN, VAL, TEST)
EDITABLE_SPLITS: tuple[str, ...] = (TRAIN, VAL)

CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

# FER-2013 `emotion` column: 0..6 in the order of CLASSES.
FER2013_IDS: dict[int, str] = dict(enumerate(CLASSES))
# FER-2013 `Usage` column -> split.
FER2013_USAGE: dict[str, str] = {"Training": TRAIN, "PublicTest": VAL, "PrivateTest": TEST}

# RAF-DB basic expression labels 1..7.
RAFDB_IDS: dict[int, str] = {
    1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral",
}

# FER+ vote columns, in file order, and what each maps to (contempt/unknown/NF stay as they are).
FERPLUS_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger",
    "disgust", "fear", "contempt", "unknown", "NF",
)
FERPLUS_TO_CLASS: dict[str, str] = {
    "neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
    "anger": "angry", "disgust": "disgust", "fear": "fear",
    "contempt": "contempt", "unknown": "unknown", "NF": "nonface",
}

# The FER+ vote column of each class, in CLASSES order (the 7 emotions among the 10 columns).
CLASS_VOTE_COLUMNS: tuple[int, ...] = tuple(
    FERPLUS_COLUMNS.index(next(k for k, v in FERPLUS_TO_CLASS.items() if v == c)) for c in CLASSES)

# Folder names seen in the wild for each class (lower-cased).
ALIASES: dict[str, str] = {
    "anger": "angry", "angry": "angry", "mad": "angry",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear", "scared": "fear",
    "happy": "happy", "happiness": "happy", "joy": "happy",
    "sad": "sad", "sadness": "sad",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": "neutral", "calm": "neutral",
}

_SPLIT_ALIASES: dict[str, str] = {
    "train": TRAIN, "training": TRAIN,
    "val": VAL, "valid": VAL, "validation": VAL, "publictest": VAL,
    "test": TEST, "testing": TEST, "privatetest": TEST,
}


def class_from_name(name: str) -> str | None:
    """Map a folder or label name to the unified class, or None when unknown."""
    return ALIASES.get(name.strip().lower())


def split_from_name(name: str) -> str | None:
    """Map a split folder name (train, val, validation, PublicTest, ...) to train/val/test."""
    return _SPLIT_ALIASES.get(name.strip().lower())


def ferplus_majority(votes: list[int] | tuple[int, ...]) -> str | None:
    """The strict majority of the 10 FER+ votes, mapped to the taxonomy; None without one."""
    total = sum(votes)
    if total <= 0:
        return None
    best = max(range(len(votes)), key=lambda i: votes[i])
    if 2 * votes[best] <= total:
        return None
    return FERPLUS_TO_CLASS[FERPLUS_COLUMNS[best]]
