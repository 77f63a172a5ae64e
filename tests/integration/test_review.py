"""Review decisions, undo, the queue and the audit on a real-DB dataset (curate.review)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from review_fixtures import LABEL_TAG, audited_dataset

from curate.apply import ApplyConfig, apply_reviews
from curate.core import runs, schema
from curate.core.errors import InputError
from curate.review import audit, audit_markdown, decide, review_queue, undo_last


def _review_tags(ds, sid):
    ds.reload()
    return sorted(t for t in ds[sid].tags if t.startswith(schema.REVIEW_PREFIX))


def test_accept_writes_the_review_state_apply_commits(tmp_path, dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    chosen = flagged[:3]
    res = decide(ds, chosen, "accept", reviewer="ana")
    assert res.decided == 3
    for sid in chosen:
        s = ds[sid]
        assert _review_tags(ds, sid) == [schema.relabel_tag(s[schema.SUGGESTED_LABEL])]
        assert LABEL_TAG in s.tags  # the flag stays
        (entry,) = s[schema.REVIEW_LOG]
        assert entry["reviewer"] == "ana" and entry["action"] == "accept"
        assert entry["before"] == [] and entry["at"] is not None and entry["applied"]
    out = apply_reviews(ApplyConfig(dataset=dataset_name, user="ana"))
    assert out.changed["relabelled"] == 3
    ds.reload()
    for sid in chosen:
        assert ds[sid][schema.LABEL_PATH] == ds[sid][schema.SUGGESTED_LABEL]


def test_bad_input_is_refused_and_writes_nothing(tmp_path, dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    test_id = ds.match({schema.SPLIT: "test"}).first().id
    with pytest.raises(InputError, match="no samples selected"):
        decide(ds, [], "keep")
    with pytest.raises(InputError, match="outside train/val .*1 in test"):
        decide(ds, [flagged[0], test_id], "drop")
    with pytest.raises(InputError, match="not a class"):
        decide(ds, flagged[:2], "relabel", label="contempt")
    ds.set_values(schema.SUGGESTED_LABEL, {flagged[1]: None}, key_field="id")
    with pytest.raises(InputError, match="1 selected samples have no suggested label"):
        decide(ds, flagged[:2], "accept")
    ds.reload()
    assert not any(t.startswith(schema.REVIEW_PREFIX) for t in ds.distinct(schema.TAGS))


def test_undo_restores_exactly_and_leaves_a_later_decision(tmp_path, dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    a, b = flagged[:2]
    decide(ds, [a, b], "relabel", label="fear", reviewer="ana")
    decide(ds, [a, b], "drop", reviewer="ana")
    decide(ds, [b], "keep", reviewer="ben")  # ben decides later on b: his decision is in force
    res = undo_last(ds, "ana")  # takes back ana's drop: a only (b was changed since)
    assert (res.decided, res.superseded) == (1, 1)
    assert _review_tags(ds, a) == [schema.relabel_tag("fear")]
    assert _review_tags(ds, b) == [schema.REVIEW_KEEP]
    undo_last(ds, "ana")  # then her relabel: a back to no decision at all
    assert _review_tags(ds, a) == []
    with pytest.raises(InputError, match="nothing to undo"):
        undo_last(ds, "ana")
    actions = [e["action"] for e in ds[b][schema.REVIEW_LOG]]
    assert actions == ["relabel", "drop", "keep", "undo", "undo"]  # every decision recorded


_WORKER = textwrap.dedent("""
    import sys
    from curate.core import store
    from curate.review import decide
    ds = store.load_dataset(sys.argv[1])
    ids = sys.argv[3].split(",")
    for k in range(int(sys.argv[4])):
        decide(ds, ids, "keep" if k % 2 else "drop", reviewer=sys.argv[2])
""")


def test_two_reviewers_and_a_tagging_stage_at_once_lose_nothing(tmp_path, dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    ids = flagged[:5]
    rounds = 6
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, dataset_name, who, ",".join(ids),
                               str(rounds)], env=os.environ.copy(), stderr=subprocess.PIPE)
             for who in ("ana", "ben")]
    for k in range(rounds):  # meanwhile a stage tags and untags the same samples
        ds.select(ids).tag_samples(f"issue:test{k}")
    errs = [p.communicate(timeout=300)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    ds.reload()
    for sid in ids:
        s = ds[sid]
        log = s[schema.REVIEW_LOG]
        assert sorted(e["reviewer"] for e in log) == ["ana"] * rounds + ["ben"] * rounds
        last = log[-1]  # the later decision is the one in force
        want = schema.REVIEW_KEEP if last["action"] == "keep" else schema.REVIEW_DROP
        assert _review_tags(ds, sid) == [want]
        assert {f"issue:test{k}" for k in range(rounds)} <= set(s.tags)
        assert LABEL_TAG in s.tags


def test_queue_and_audit_follow_the_decisions(tmp_path, dataset_name):
    ds, flagged = audited_dataset(tmp_path, dataset_name)
    first = review_queue(ds, size=5, order="static")
    p = dict(zip(*ds.values(["id", schema.LABEL_ERROR_PROB]), strict=True))
    want = sorted(flagged, key=lambda i: -p[i])[:5]
    assert first.ids == want and first.remaining == len(flagged)
    decide(ds, first.ids[:2], "keep")
    decide(ds, first.ids[2:4], "drop")
    nxt = review_queue(ds, size=len(flagged), order="learning")
    assert not set(nxt.ids) & set(first.ids[:4])
    assert set(nxt.ids) == set(flagged) - set(first.ids[:4])
    assert nxt.remaining == len(flagged) - 4 and nxt.reviewed == 4
    a = audit(ds)
    assert sum(r["flags"] for r in a.rows) == len(flagged)
    assert sum(r["reviewed"] for r in a.rows) == 4
    assert sum(r["confirmed"] for r in a.rows) == 2  # the drops
    assert sum(sum(c.values()) for c in a.confusion.values()) == len(flagged)
    text = audit_markdown(a)
    assert "| **all** | " + str(len(flagged)) in text and "Given vs suggested" in text
    assert a.warning is None and not text.startswith("**")
    runs.record(ds, runs.check_stage("labels"), config={}, fp="x", seconds=1.0,
                counts={"warning": "out-of-fold accuracy 17.2% is below 45%: ..."})
    assert audit_markdown(audit(ds)).startswith("**out-of-fold accuracy 17.2% is below 45%")
    with pytest.raises(InputError, match="queue order"):
        review_queue(ds, order="random")
