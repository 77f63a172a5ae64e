"""The ingest fast path writes exactly the documents FiftyOne itself would."""

from __future__ import annotations

from curate.core import store


def _shape(doc):
    if isinstance(doc, dict):
        return {k: _shape(v) for k, v in doc.items() if k not in ("_rand",)}
    return type(doc).__name__


def test_record_doc_matches_fiftyone_sample_document(dataset_name):
    rec = store.SampleRecord("/x/a.png", "fer2013", "7", "train", "fear", "2", 48, 48, 1, 1234)
    ours, theirs = rec.to_doc(), rec.to_sample().to_mongo_dict()
    assert _shape(ours) == _shape({k: v for k, v in theirs.items()})
    assert list(ours) == list(theirs) and list(ours["metadata"]) == list(theirs["metadata"])
    for key in ("filepath", "orig_label", "source", "source_id", "split", "_media_type"):
        assert ours[key] == theirs[key]
    assert dict(ours["metadata"]) == dict(theirs["metadata"])
    assert ours["ground_truth"]["label"] == theirs["ground_truth"]["label"] == "fear"
    assert 0.999 <= ours["_rand"] <= 1.0

    ds = store.load_dataset(dataset_name, create=True)
    store.add_records(ds, [rec])
    s = ds.first()
    assert (s.ground_truth.label, s.metadata.width, s.source_id, s.split) == ("fear", 48, "7",
                                                                               "train")
    assert s.created_at is not None and len(ds) == 1 and s.tags == []
