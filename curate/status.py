"""`curate status`: what the dataset holds (per source / split / class), its fields, stages run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from curate.core import runs, schema, store

# Fields every FiftyOne sample has: not worth listing.
BASE_FIELDS = {"id", schema.FILEPATH, schema.TAGS, schema.METADATA, "created_at",
               "last_modified_at"}


@dataclass
class Status:
    dataset: str
    samples: int
    counts: dict[tuple[str, str, str], int]  # (source, split, class) -> n
    fields: list[str]
    runs: dict[str, runs.Run]  # stage -> its last run
    tags: dict[str, int] = field(default_factory=dict)

    def by(self, axis: int) -> Counter:
        out: Counter = Counter()
        for key, n in self.counts.items():
            out[key[axis]] += n
        return out


def dataset_status(name: str) -> Status:
    """What `curate status` prints, read from the dataset `name`."""
    ds = store.load_dataset(name)
    keys = zip(*ds.values([schema.SOURCE, schema.SPLIT, schema.LABEL_PATH]))
    counts = Counter((str(s), str(p), str(c)) for s, p, c in keys)
    fields = sorted(set(ds.get_field_schema()) - BASE_FIELDS)
    last = {stage: runs.last(ds, stage) for stage in runs.history(ds)}
    return Status(ds.name, len(ds), dict(counts), fields, last, ds.count_sample_tags())
