"""What `train compare` scores every run against, on one split (`--score-split`: test, the
claim; val, a dev figure): the same samples for every variant, each run's saved predictions on
that split (`run.probs_file`), and every label set the samples carry.

- `original`: the split's labels as the baseline variant (the first, raw) has them: FER-2013's
  own, the noisy labels the tool exists to fix;
- `crowd_majority`: where the samples carry FER+ votes (`ferplus_votes`), the class with a strict
  majority of the 7 emotions' votes (`curate.core.votes.emotion_majority`); voted samples
  without one are left out and counted. Accuracy and macro-F1 (on FER-2013's test only 16
  samples have a disgust majority: macro-F1 swings between seeds, accuracy leads);
- `crowd_agreement`: the share of a sample's emotion votes that agree with the prediction (the
  chance a random annotator agrees), over every sample with emotion votes.

Each is also scored without the samples that have a pixel-identical copy in a split the model
learnt or was selected on (FER-2013's train/test leakage): `SUBSETS`. Who gave the judging
votes (`Truth.answers`: faces, answers, per `via`, annotators) comes from the answers store
(`schema.ANSWERS`), for the reports' first section.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from curate.core import schema
from curate.core.votes import emotion_majority, emotion_votes, latest_per_annotator, vote_shares
from train.data import MANIFEST, ImageSet
from train.metrics import evaluate
from train.run import DataSource, load_probs, probs_file

log = logging.getLogger(__name__)

LABEL_SETS = ("original", "crowd_majority", "crowd_agreement")
SUBSETS = ("all", "without_train_copies")
# (report label, label set, metric) of every score, leading with what moves least by chance
SCORES = (("crowd agreement", "crowd_agreement", "agreement"),
          ("crowd majority accuracy", "crowd_majority", "accuracy"),
          ("crowd majority macro-F1", "crowd_majority", "macro_f1"),
          ("original accuracy", "original", "accuracy"),
          ("original macro-F1", "original", "macro_f1"))


def key_of(sample_key: str) -> str:
    """The key a split's samples are matched by across variants: the file name of an export's
    image (`<source>_<source_id>.png`) or a view's sample id."""
    return Path(sample_key).name


@dataclass(frozen=True, kw_only=True)
class Truth:
    """One split's samples shared by every variant and what they are scored against."""

    split: str
    keys: list[str]
    labels: np.ndarray  # the baseline variant's labels (the original ones)
    votes: np.ndarray | None  # (N, 10) FER+ votes, zero rows where a sample has none; None: no votes
    copied: np.ndarray  # True: a pixel-identical copy sits in a split the model learnt from
    classes: tuple[str, ...]
    calibrating: int = 0  # samples whose votes calibrated the label audit: not in `votes`
    # per sample, (annotator, via) of the answers its votes count (`answer_sources`); None: the
    # votes' origin is unknown (an export's manifest carries the counts only)
    sources: list[Sources | None] | None = None

    @property
    def voted(self) -> int:
        return 0 if self.votes is None else int((emotion_votes(self.votes).sum(1) > 0).sum())

    @property
    def answers(self) -> dict[str, Any]:
        """The judging answers: `answer_summary` of the samples with emotion votes."""
        return answer_summary(self.votes, self.sources)


Sources = tuple[tuple[str, str], ...]  # (annotator, via) of each answer a sample's votes count


def answer_sources(answers: Sequence[Mapping[str, Any]] | None) -> Sources:
    """(annotator, via) of the answers that count (`curate.core.votes.latest_per_annotator`)."""
    return tuple((name, str(a.get("via") or ""))
                 for name, a in latest_per_annotator(answers).items())


def answer_summary(votes: np.ndarray | None,
                   sources: Sequence[Sources | None] | None = None) -> dict[str, Any]:
    """What judges, over the samples with emotion votes: `faces`, `answers` (every counted
    answer on them, "not a face" and "unsure" too), `via` (answers per origin, {} when the
    origin is unknown) and `annotators` (distinct named ones; FER+'s per-face pseudo-annotators
    are anonymous and not counted)."""
    if votes is None:
        return {"faces": 0, "answers": 0, "via": {}, "annotators": 0}
    votes = np.asarray(votes)
    judging = emotion_votes(votes).sum(1) > 0
    via: Counter[str] = Counter()
    people: set[str] = set()
    for row in (np.flatnonzero(judging).tolist() if sources is not None else []):
        for who, origin in sources[row] or ():  # type: ignore[index]
            via[origin] += 1
            if origin != schema.FERPLUS_VIA:
                people.add(who)
    return {"faces": int(judging.sum()), "answers": int(votes[judging].sum()),
            "via": dict(sorted(via.items())), "annotators": len(people)}


def learnt_splits(split: str) -> tuple[str, ...]:
    """The splits a model trains or is selected on, seen from the scored split."""
    return ("train",) if split == "val" else ("train", "val")


def copied_keys(loaded: Mapping[str, ImageSet], split: str) -> set[str]:
    """Keys of `split` images pixel-identical (as loaded) to an image of a split the models learnt
    from, in any variant: a model can score them by memory."""
    from curate.core.hashing import pixel_digest

    out: set[str] = set()
    learnt = learnt_splits(split)
    for d in loaded.values():
        seen = {pixel_digest(img) for img in d.images[np.isin(d.splits, learnt)]}
        part = d.split(split)
        out |= {key_of(k) for k, img in zip(part.ids, part.images, strict=True)
                if pixel_digest(img) in seen}
    return out


def build_truth(loaded: Mapping[str, ImageSet], baseline: str, split: str,
                votes: np.ndarray | None, calibrating: int = 0,
                sources: Sequence[Sources | None] | None = None) -> Truth:
    """The `split` samples every variant has, with the baseline's labels; `votes` rows (and
    `sources`, who gave them) follow the baseline's `split` rows (None: no votes; `calibrating`:
    how many were left out of them as calibrating votes, for the report)."""
    base = loaded[baseline].split(split)
    if not len(base):
        from curate.core.errors import InputError

        raise InputError(f"the {baseline} variant has no {split} split to score on")
    common = set.intersection(*({key_of(k) for k in d.split(split).ids} for d in loaded.values()))
    keep = np.array([key_of(k) in common for k in base.ids])
    dropped = len(base) - int(keep.sum())
    if dropped:
        log.info("%d %s samples of %s are missing from another variant: scored without them",
                 dropped, split, baseline)
    copies = copied_keys(loaded, split)
    keys = [key_of(k) for k, m in zip(base.ids, keep, strict=True) if m]
    return Truth(split=split, keys=keys, labels=base.labels[keep],
                 votes=None if votes is None else np.asarray(votes)[keep],
                 copied=np.array([k in copies for k in keys], dtype=bool), classes=base.classes,
                 calibrating=calibrating,
                 sources=None if sources is None else [s for s, m in zip(sources, keep,
                                                                         strict=True) if m])


def score_probs(probs: np.ndarray, truth: Truth) -> dict[str, dict[str, Any]]:
    """label set -> subset -> metrics of predictions aligned with `truth.keys`."""
    out: dict[str, dict[str, Any]] = {s: {} for s in LABEL_SETS}
    for subset, mask in (("all", np.ones(len(truth.keys), bool)),
                         ("without_train_copies", ~truth.copied)):
        if not mask.any():
            continue
        p, y = probs[mask], truth.labels[mask]
        m = evaluate(p, y, truth.classes)
        out["original"][subset] = {"n": m["n"], "accuracy": m["accuracy"],
                                   "macro_f1": m["macro_f1"]}
        if truth.votes is None:
            continue
        votes = truth.votes[mask]
        maj = emotion_majority(votes)
        has = emotion_votes(votes).sum(1) > 0
        if (maj >= 0).any():
            mm = evaluate(p[maj >= 0], maj[maj >= 0], truth.classes)
            out["crowd_majority"][subset] = {
                "n": mm["n"], "accuracy": mm["accuracy"], "macro_f1": mm["macro_f1"],
                "left_out": int((has & (maj < 0)).sum())}
        if has.any():
            share = vote_shares(votes[has])
            pred = p[has].argmax(1)
            out["crowd_agreement"][subset] = {
                "n": int(has.sum()), "agreement": float(share[np.arange(len(pred)), pred].mean())}
    return {k: v for k, v in out.items() if v}


def score_run(run_dir: Path, truth: Truth) -> dict[str, dict[str, Any]] | None:
    """A run's saved predictions on the truth's split, scored; None when it has none (or they
    miss some of the truth's samples)."""
    saved = load_probs(Path(run_dir) / probs_file(truth.split))
    if saved is None:
        return None
    keys, probs = saved
    at = {key_of(k): i for i, k in enumerate(keys)}
    missing = [k for k in truth.keys if k not in at]
    if missing:
        log.warning("%s: no saved %s prediction for %d samples (e.g. %s); not scored", run_dir,
                    truth.split, len(missing), missing[0])
        return None
    return score_probs(probs[[at[k] for k in truth.keys]], truth)


class CrowdVotes(NamedTuple):
    """`crowd_votes`: the judging votes, how many samples' votes were left out as calibrating
    ones, and per sample who gave its votes (None: not recorded where the votes were read)."""

    votes: np.ndarray | None
    calibrating: int
    sources: list[Sources | None] | None = None


def crowd_votes(src: DataSource, data: ImageSet, dataset: str | None) -> CrowdVotes:
    """(len(data), 10) FER+ votes of `data`'s samples that may judge a run (zero rows where a
    sample has none; None when no sample has any). The votes of rows whose crowd role is
    "calibrate" (`schema.CROWD_ROLE`: they calibrated the label audit, so shaped the curated
    labels) are left out and counted. An export's come from its own manifest's `ferplus_votes`
    and `crowd_role` columns (as exported: scored the same on a machine without the dataset); a
    view's, and an export from before those columns, from the dataset (matched by id, or by the
    manifest's source and source_id)."""
    manifest = _manifest(Path(src.folder)) if src.folder is not None else {}
    if manifest and schema.FERPLUS_VOTES in next(iter(manifest.values())):
        where = f"{Path(src.folder) / MANIFEST}: {schema.FERPLUS_VOTES} of"  # type: ignore[arg-type]
        got = [manifest.get(k) or {} for k in data.ids]
        return _vote_rows([schema.decode_votes(r.get(schema.FERPLUS_VOTES, ""), f"{where} {k}")
                           for k, r in zip(data.ids, got, strict=True)],
                          [r.get(schema.CROWD_ROLE) for r in got])
    from curate.core import store
    from curate.core.errors import StoreError

    try:
        ds = store.load_dataset(src.dataset or dataset or store.DEFAULT_DATASET)
    except StoreError:
        return CrowdVotes(None, 0)  # an export made elsewhere: no dataset to read votes from
    have = ds.get_field_schema()
    if schema.FERPLUS_VOTES not in have:
        return CrowdVotes(None, 0)
    fields = [schema.FERPLUS_VOTES] + ([schema.CROWD_ROLE] if schema.CROWD_ROLE in have else [])
    if src.folder is None:
        ids: list[str | None] = list(data.ids)
        cols = store.values_by_id(ds, data.ids, fields)  # a sample gone from the dataset: None
    else:
        ids, cols = _by_source(ds, manifest, data.ids, fields)
    roles = cols[1] if len(cols) > 1 else [None] * len(ids)
    return _vote_rows(cols[0], roles, _sources(ds, ids) if schema.ANSWERS in have else None)


def _by_source(ds: Any, manifest: dict[str, dict[str, str]], keys: Sequence[str],
               fields: list[str]) -> tuple[list[str | None], list[list[Any]]]:
    """An export's samples found in the dataset by the manifest's source and source_id: their
    ids (None: not found) and `fields`, one list per field."""
    sid = {p: (r[schema.SOURCE], r[schema.SOURCE_ID]) for p, r in manifest.items()}
    got = ds.values(["id", schema.SOURCE, schema.SOURCE_ID, *fields])
    by_src = {(s, str(i)): (sample, *rest) for sample, s, i, *rest in zip(*got, strict=True)}
    found = [by_src.get(sid.get(k, ("", ""))) for k in keys]
    return ([f[0] if f else None for f in found],
            [[f[k] if f else None for f in found] for k in range(1, len(fields) + 1)])


def _sources(ds: Any, ids: Sequence[str | None]) -> list[Sources | None]:
    """Who gave each sample's votes (its stored answers, read raw: plain dicts), aligned to
    `ids`."""
    from curate.core import store

    by_id: dict[str, Sources] = {}
    for part in store.select_chunks(ds, [i for i in dict.fromkeys(ids) if i]):
        cols = part.values(["id", schema.ANSWERS], _raw=True)
        by_id.update((str(i), answer_sources(a)) for i, a in zip(*cols, strict=True))
    return [by_id.get(i) if i else None for i in ids]


def _vote_rows(rows: list, roles: list[str | None],
               sources: list[Sources | None] | None = None) -> CrowdVotes:
    """The vote rows as one array, a calibrating row's (or a missing one's) all zero; `sources`
    likewise (a calibrating row's None)."""
    calibrating = sum(r is not None and role == schema.CALIBRATE
                      for r, role in zip(rows, roles, strict=True))
    if calibrating:
        log.info("%d samples' votes calibrated the label audit (crowd_role = calibrate): left "
                 "out of the crowd scores", calibrating)
    keep = [r is not None and role != schema.CALIBRATE for r, role in zip(rows, roles,
                                                                           strict=True)]
    if not any(keep):
        return CrowdVotes(None, calibrating)
    votes = np.array([r if k else [0] * 10 for r, k in zip(rows, keep, strict=True)],
                     dtype=np.int64)
    return CrowdVotes(votes, calibrating, None if sources is None else
                      [s if k else None for s, k in zip(sources, keep, strict=True)])


def _manifest(root: Path) -> dict[str, dict[str, str]]:
    """An export's manifest.csv rows by image path (relative); {} without one."""
    import csv

    path = root / MANIFEST
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["path"]: r for r in csv.DictReader(fh)}


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
