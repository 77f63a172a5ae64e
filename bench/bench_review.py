"""Benchmark of the App review loop: the learning queue vs the static order, and the latency of
a review operator on the full dataset.

    .venv/bin/python bench/bench_review.py [--dataset NAME --workspace WS]
    .venv/bin/python bench/bench_review.py --verdicts default   # the loop per audit verdict

Needs a dataset with a label audit (`curate clean --checks labels`) and the FER+ dev votes on
val: the README's main job leaves one (dataset fer, workspace workspace/fer); without
--dataset, bench/bench_labels.py's (prepared and cleaned with its cpu profile when missing).

1. A simulated reviewer goes through the val rows (the only rows with votes), answering each
   sample from the FER+ votes: the label is wrong when the plurality of the 10 votes is another
   column (`curate.core.votes.plurality_wrong`, as bench_labels scores flags). The queue is
   every val row with a `label_error_prob`: the static order (that estimate, highest first)
   vs the learning queue (`curate.review.queue.rerank` after each batch, fitted on the answers
   so far). Nothing is tuned on the votes: they only answer. Printed: real errors found after
   500, 1000, 1500 and 2000 reviewed samples, for batches of 25, 50, 100, 250 and 500, and the
   ratio at 1000 (target >= 1.2x); then the ceiling (`queue.ceiling`): the same re-ranking
   fitted on 4/5 of all the answers, as if the reviewer had already answered most of the
   queue, the most any order learnt from these inputs can find. `--verdicts PROFILE` runs only
   this loop, on bench_labels' dataset of that profile, once per verdict of its audit (crowd-free,
   crowd-calibrated, calibrated on the other half): how much a reviewer's answers add depends on
   what the static order already learnt from votes.
2. Operator latency: the plugin's real operators (`@curate/review/accept_suggested`, `keep_label`,
   `undo_decision`) executed through FiftyOne's operator executor on 50 selected train samples
   of a clone of the dataset (the original is never written), median of 5, target < 1 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BATCHES = (25, 50, 100, 250, 500)
CHECKPOINTS = (500, 1000, 1500, 2000)
TARGET_AT = 1000
LATENCY_SAMPLES = 50
REPEATS = 5


def _features_path(ds, ws: Path) -> Path | None:
    from curate.core import schema

    path = ds.info.get(schema.LABEL_FEATURES)
    if path and Path(path).is_file():
        return Path(path)
    found = sorted((ws / "runs").rglob("features.npz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None  # a clean run made before it recorded the path


def _val_arrays(ds, ws: Path):
    from curate.core import schema
    from curate.core.taxonomy import CLASS_INDEX, CLASSES
    from curate.core.views import raw_label
    from curate.core.votes import plurality_wrong

    view = ds.match({"$and": [{schema.SPLIT: "val"}, {schema.LABEL_ERROR_PROB: {"$ne": None}},
                              {schema.FERPLUS_VOTES: {"$ne": None}}]})
    ids, src, orig, gt, p, oof, votes = view.values(
        ["id", schema.SOURCE, schema.ORIG_LABEL, schema.LABEL_PATH, schema.LABEL_ERROR_PROB,
         schema.OOF, schema.FERPLUS_VOTES])
    labels = np.array([CLASS_INDEX[raw_label(*x)] for x in zip(src, orig, gt, strict=True)])
    votes_arr = np.array(votes, dtype=np.int64)
    keep = votes_arr.sum(1) > 0
    feats = None
    path = _features_path(ds, ws)
    if path is not None:
        with np.load(path) as z:
            row = {i: k for k, i in enumerate(z["ids"].tolist())}
            feats = z["features"][[row[i] for i in ids]].astype(np.float32)[keep]
    probs = np.array(oof, dtype=np.float64).reshape(len(ids), len(CLASSES))[keep]
    wrong = plurality_wrong(labels[keep], votes_arr[keep])
    return np.array(p, dtype=np.float64)[keep], labels[keep], probs, feats, wrong


def _verdict_arrays(profile: str) -> dict[str, tuple]:
    """bench_labels' dataset of a profile, its audit recomputed three ways on the same inputs
    (crowd-free, crowd-calibrated cross-fitted, calibrated on the other half): per verdict the
    arrays of `_val_arrays` on the voted val rows, the queue's static order being that verdict."""
    import bench_labels

    from curate.core.votes import plurality_wrong

    os.environ.setdefault("FIFTYONE_DATABASE_NAME", "bench_labels")
    data, cfg = bench_labels._arrays(f"fer_{profile}", bench_labels.WS / profile)
    checked, _, verdicts, _ = bench_labels._methods(data, cfg)
    val = np.flatnonzero(np.asarray(data.splits[checked]) == "val")
    rows = checked[val]
    keep = data.votes[rows].sum(1) > 0
    y = data.labels[rows][keep]
    wrong = plurality_wrong(y, data.votes[rows][keep])
    return {k: (v.p_wrong[val][keep], y, data.probs[rows][keep], data.features[rows][keep], wrong)
            for k, v in verdicts.items()}


def review_loop(arrays: tuple, title: str) -> float:
    from curate.review import queue

    p, labels, probs, feats, wrong = arrays
    budget = min(max(CHECKPOINTS), len(p))
    print(f"\nreview loop ({title}): {len(p)} voted val rows, {int(wrong.sum())} wrong labels "
          f"({wrong.mean():.1%}); features: {'yes' if feats is not None else 'no'}")
    print("| batch | order | " + " | ".join(f"errors @{c}" for c in CHECKPOINTS) +
          f" | ratio @{TARGET_AT} | seconds |")
    print("|---:|---|" + "---:|" * (len(CHECKPOINTS) + 2))
    ratios = []
    for batch in BATCHES:
        found = {}
        for learn in (False, True):
            t0 = time.perf_counter()
            found[learn] = queue.simulate(p, labels, probs, feats, wrong, batch, budget, learn)
            secs = time.perf_counter() - t0
            at = [int(found[learn][c - 1]) if c <= budget else "-" for c in CHECKPOINTS]
            ratio = found[True][TARGET_AT - 1] / max(found[False][TARGET_AT - 1], 1) if learn else None
            if ratio:
                ratios.append(ratio)
            else:
                static = found[False]  # the static order: the same for every batch size
            print(f"| {batch} | {'learning' if learn else 'static'} | " +
                  " | ".join(map(str, at)) + f" | {f'{ratio:.2f}x' if ratio else ''} | {secs:.1f} |")
    best = queue.ceiling(p, labels, probs, feats, wrong)
    order = np.argsort(-best, kind="stable")
    at = [int(wrong[order[:c]].sum()) if c <= budget else "-" for c in CHECKPOINTS]
    ceiling = wrong[order[:TARGET_AT]].sum() / max(static[TARGET_AT - 1], 1)
    print("| all | ceiling (the same model fitted on 4/5 of *all* answers, cross-fitted) | " +
          " | ".join(map(str, at)) + f" | {ceiling:.2f}x | |")
    print(f"ratio at {TARGET_AT} reviewed, learning / static: min {min(ratios):.2f}x, "
          f"median {statistics.median(ratios):.2f}x (target >= 1.2x); the ceiling of what these "
          f"inputs can teach: {ceiling:.2f}x")
    return min(ratios)


def latency(ds) -> float:
    import fiftyone.operators as foo

    from curate.app import register_plugin
    from curate.core import schema, store

    register_plugin()
    name = f"{ds.name}-bench-review"
    if store.fo().dataset_exists(name):
        store.fo().delete_dataset(name)
    t0 = time.perf_counter()
    clone = ds.clone(name)
    print(f"\noperator latency on a clone of {len(clone)} samples (cloned in "
          f"{time.perf_counter() - t0:.0f} s)")
    try:
        train = clone.match({schema.SPLIT: "train", schema.SUGGESTED_LABEL: {"$ne": None}})
        ids = train.take(LATENCY_SAMPLES * REPEATS, seed=0).values("id")
        rows = []
        for op in ("accept_suggested", "keep_label", "undo_decision"):
            times = []
            for k in range(REPEATS):
                chosen = ids[k * LATENCY_SAMPLES:(k + 1) * LATENCY_SAMPLES]
                t0 = time.perf_counter()
                res = foo.execute_operator(f"@curate/review/{op}", dataset=clone.name,
                                           selected=chosen, params={"reviewer": "bench"})
                times.append(time.perf_counter() - t0)
                if res.error:
                    raise SystemExit(f"{op}: {res.error}")
            rows.append((op, statistics.median(times), max(times)))
        print("| operator | median s | max s |\n|---|---:|---:|")
        for op, med, worst in rows:
            print(f"| {op} ({LATENCY_SAMPLES} samples) | {med:.3f} | {worst:.3f} |")
        clone.reload()
        logged = sum(bool(x) for x in clone.values(schema.REVIEW_LOG))
        print(f"samples with a logged decision: {logged} (target: {LATENCY_SAMPLES * REPEATS})")
        return max(med for _, med, _ in rows)
    finally:
        store.fo().delete_dataset(name)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default=None)
    ap.add_argument("--workspace", type=Path, default=None)
    ap.add_argument("--verdicts", metavar="PROFILE", choices=("cpu", "default"),
                    help="only the review loop, on bench_labels' dataset of this profile, once "
                         "per audit verdict (crowd-free, crowd-calibrated, other half)")
    args = ap.parse_args()
    from curate.core import store

    if args.verdicts:
        for name, arrays in _verdict_arrays(args.verdicts).items():
            review_loop(arrays, f"{args.verdicts} profile, {name} audit")
        return

    if args.dataset is None:
        os.environ.setdefault("FIFTYONE_DATABASE_NAME", "bench_labels")
        import bench_labels

        bench_labels._prepare("fer", bench_labels.WS)
        args.dataset, args.workspace = "fer", bench_labels.WS
        ds = store.load_dataset("fer")
        if schema_missing(ds):
            bench_labels._curate("fer", bench_labels.WS, "clean", "--checks", "labels",
                                 *bench_labels.PROFILE_ARGS["cpu"])
    ws = args.workspace or Path("workspace") / args.dataset
    ds = store.load_dataset(args.dataset)
    ratio = review_loop(_val_arrays(ds, ws), f"dataset {args.dataset}'s audit")
    worst = latency(ds)
    print(f"\nsummary: learning queue {ratio:.2f}x the static order's errors at {TARGET_AT} "
          f"(worst batch size); slowest operator median {worst:.3f} s for {LATENCY_SAMPLES} "
          "samples")


def schema_missing(ds) -> bool:
    from curate.core import schema

    return schema.LABEL_ERROR_PROB not in ds.get_field_schema()


if __name__ == "__main__":
    main()
