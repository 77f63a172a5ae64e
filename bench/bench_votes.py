"""Benchmark: how many human answers the label audit needs, and which faces to ask about.

    .venv/bin/python bench/bench_votes.py --dataset fer --workspace workspace/fer [--seeds 3]
        [--budgets 0,50,100,200,400,800,all] [--out bench/results/votes]

Reads a dataset whose label check ran with FER+ dev votes attached (the README main job's, or
`bench/bench_labels.py`'s) and replays the answers offline, on the arrays `curate clean` scored:
simulated annotators give each chosen face one of its 10 FER+ votes, drawn without replacement
(several answers per face = several draws). The pool of faces that may be asked is the half of
the voted val rows that the main job calibrates on (`--crowd-holdout 0.5`); the other half only
judge, and never answer. For each budget, strategy (random, activelab, stratified: the
`curate annotate` strategies) and seed, the calibration (`curate.clean.calibration`) is fitted
on the answers and scored on the judges: the agreement of `apply --auto`'s targets with the
crowd plurality (the source labels: budget 0 is the crowd-free audit), and the label flags'
precision and recall against the plurality. Beside it, the same-run reference: the previous
calibration (a logistic regression on the 14 numbers, fitted on the answered faces' classes,
from MIN_CROWD_ROWS of them), on the random faces. Two more rows: every pool face with its full
plurality (the gain denominator of issue 37's 85% target) and every answer of every pool face.

Prints a Markdown table (mean and min-max over seeds) and writes `votes.csv` and `votes.png`
(target agreement against budget, per strategy) under --out.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOLDOUT = 0.5  # the main job's --crowd-holdout: the judging half of the voted rows
BUDGETS = "0,50,100,200,400,800,all"
STRATEGIES = ("random", "activelab", "stratified")


@dataclass
class Bench:
    """The crowd-free audit of the checked rows and who may answer / who judges."""

    given: np.ndarray
    mixed: np.ndarray
    q: np.ndarray  # crowd-free posterior
    p_wrong: np.ndarray
    suggested: np.ndarray
    x: np.ndarray  # calibration features
    votes: np.ndarray  # (N, 10)
    pool: np.ndarray  # rows that may be asked
    judges: np.ndarray  # rows that judge
    activelab: np.ndarray  # ActiveLab score per row (the given label as the one annotator)
    seed: int


def load(dataset: str, ws: Path) -> Bench:
    """The last label check's arrays, audited crowd-free (the votes are not read by it)."""
    from curate.clean import calibration, crowd, labels, signals
    from curate.clean.label_scores import score_labels
    from curate.clean.oof import read_features
    from curate.core import runs, schema, store, views
    from curate.core.taxonomy import EDITABLE_SPLITS

    ds = store.load_dataset(dataset)
    last = runs.last(ds, runs.check_stage("labels"))
    if not last:
        raise SystemExit(f"dataset {dataset!r} has no label check: run `curate clean`")
    feats = sorted((ws / "runs" / "oof").glob("*/features.npz"), key=lambda p: p.stat().st_mtime)
    data = labels.read_arrays(views.audited_view(ds.match(schema.real())),
                              read_features(feats[-1]))
    seed = int(last.config.get("seed", 0))
    checked = np.flatnonzero(np.isin(data.splits, EDITABLE_SPLITS))
    y, p = data.labels[checked], signals.normalise(data.probs[checked])
    v = score_labels(y, p, data.heldout[checked], data.fold[checked],
                     knn=int(last.config.get("knn", signals.K_LABEL)))
    mixed = signals.normalise(v.sig.probs("combined"))
    _, q, _ = signals.estimate(y, mixed)
    votes = data.votes[checked]
    voted = crowd.crowd_class(votes) >= 0
    judge = crowd.judges([data.source_ids[i] for i in checked], HOLDOUT, seed)
    return Bench(y, mixed, q, v.p_wrong, v.suggested, calibration.features(y, mixed), votes,
                 np.flatnonzero(voted & ~judge), np.flatnonzero(voted & judge),
                 _activelab(y, p), seed)


def _activelab(given: np.ndarray, probs: np.ndarray) -> np.ndarray:
    import warnings

    from cleanlab.multiannotator import get_active_learning_scores

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores, _ = get_active_learning_scores(given[:, None].astype(float), probs)
    return np.asarray(scores, dtype=np.float64)


def draw_answers(b: Bench, rows: np.ndarray, per_face: int, rng: np.random.Generator
                 ) -> np.ndarray:
    """(len(rows), 10) counts: `per_face` of each face's votes drawn without replacement."""
    out = np.zeros((len(rows), b.votes.shape[1]), np.int64)
    for i, r in enumerate(rows):
        bag = np.repeat(np.arange(b.votes.shape[1]), b.votes[r])
        take = rng.choice(bag, size=min(per_face, len(bag)), replace=False)
        np.add.at(out[i], take, 1)
    return out


def choose(b: Bench, strategy: str, budget: int, seed: int) -> np.ndarray:
    """`budget` pool rows by a `curate annotate` strategy (no judge share: the judges here are
    the held-out half)."""
    from curate.annotate import strategies

    pool = b.pool
    if strategy == "random":
        got = strategies.pick_random(len(pool), budget, np.random.default_rng(seed))
    elif strategy == "activelab":
        got = strategies.pick_activelab(b.activelab[pool], budget)
    else:
        got = strategies.pick_stratified(b.given[pool], b.suggested[pool], b.p_wrong[pool],
                                         budget, np.random.default_rng(seed))
    return pool[got]


def score(b: Bench, post: np.ndarray) -> dict[str, float]:
    """On the judges: --auto's targets vs the plurality, and the flags vs its errors."""
    from curate.apply.auto import auto_relabel_targets
    from curate.clean import signals
    from curate.core.taxonomy import CLASSES
    from curate.core.votes import CLASS_COLUMN, plurality_wrong

    j = b.judges
    plurality = b.votes[j].argmax(1)
    target = auto_relabel_targets(b.given, post)[j]
    p_wrong = 1.0 - post[np.arange(len(b.given)), b.given]
    flag = signals.flag_to_precision(p_wrong, b.given, len(CLASSES))[j]
    wrong = plurality_wrong(b.given[j], b.votes[j])
    tp = float((flag & wrong).sum())
    return {"agreement": float((CLASS_COLUMN[target] == plurality).mean()),
            "precision": tp / max(int(flag.sum()), 1), "recall": tp / max(int(wrong.sum()), 1),
            "flags": float(flag.sum())}


def calibrated(b: Bench, rows: np.ndarray, counts: np.ndarray, method: str) -> np.ndarray:
    """The posterior of every row after calibrating on `counts` (answers) of `rows`."""
    from curate.clean import calibration
    from curate.core.votes import emotion_votes

    full = np.zeros((len(b.given), 7))
    full[rows] = emotion_votes(counts)
    if method == "previous":
        return _previous(b, full)
    answers = calibration.AnswerSet.from_counts(full)
    cal = calibration.calibrate(b.q, b.x, answers, seed=b.seed)
    return b.q if cal is None else cal.posterior


def _previous(b: Bench, counts: np.ndarray) -> np.ndarray:
    """The calibration before answers: a multinomial logistic regression on the 14 numbers
    (log mixed probabilities, given label), fitted on the answered faces' plurality class,
    from 200 faces on (below: the crowd-free posterior)."""
    from sklearn.linear_model import LogisticRegression

    has = counts.sum(1) > 0
    if has.sum() < 200:
        return b.q
    x = np.hstack([np.log(np.clip(b.mixed, 1e-6, 1.0)), np.eye(7)[b.given]])
    lr = LogisticRegression(C=1.0, max_iter=3000).fit(x[has], counts[has].argmax(1))
    out = np.full(b.q.shape, 1e-12)
    out[:, lr.classes_] = lr.predict_proba(x)
    return out / out.sum(1, keepdims=True)


def run(b: Bench, budgets: list[int | str], seeds: int) -> list[dict]:
    rows = []
    for budget in budgets:
        n = len(b.pool) if budget == "all" else int(budget)
        plan = [(s, "offset") for s in STRATEGIES] + [("random", "previous")]
        for strategy, method in plan:
            for seed in range(seeds):
                t = time.perf_counter()
                chosen = choose(b, strategy, n, seed) if n else np.zeros(0, np.int64)
                counts = draw_answers(b, chosen, 1, np.random.default_rng(1000 + seed))
                post = calibrated(b, chosen, counts, method) if n else b.q
                rows.append({"budget": budget, "answers": n, "strategy": strategy,
                             "method": method, "seed": seed, **score(b, post),
                             "seconds": time.perf_counter() - t})
            if not n:
                break
    for method in ("offset", "previous"):  # every pool face's plurality; every answer
        for label, per_face in (("pluralities", None), ("every answer", 10)):
            counts = b.votes[b.pool] if per_face is None else draw_answers(
                b, b.pool, per_face, np.random.default_rng(0))
            post = calibrated(b, b.pool, counts, method)
            rows.append({"budget": label, "answers": int(counts.sum()), "strategy": "all",
                         "method": method, "seed": 0, **score(b, post), "seconds": 0.0})
    return rows


def table(rows: list[dict]) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["budget"], r["strategy"], r["method"]), []).append(r)
    out = ["| answers | strategy | calibration | target agreement | flag precision | flag recall |"
           " flags |", "|---|---|---|---:|---:|---:|---:|"]
    for (budget, strategy, method), rs in groups.items():
        def cell(k: str, pct: bool = True, rs: list[dict] = rs) -> str:
            v = np.array([r[k] for r in rs])
            f = (lambda a: f"{100 * a:.1f}") if pct else (lambda a: f"{a:.0f}")
            return f(v.mean()) + (f" ({f(v.min())}-{f(v.max())})" if len(v) > 1 else "")
        out.append(f"| {budget} ({rs[0]['answers']}) | {strategy} | {method} | "
                   f"{cell('agreement')} | {cell('precision')} | {cell('recall')} | "
                   f"{cell('flags', False)} |")
    return "\n".join(out)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for strategy, method in [(s, "offset") for s in STRATEGIES] + [("random", "previous")]:
        pts = sorted({(r["answers"], r["budget"]) for r in rows if r["strategy"] in
                      (strategy, "random") and r["method"] == method and r["budget"] != "all"
                      and isinstance(r["budget"], int)})
        xs = [a for a, _ in pts]
        ys = [100 * np.mean([r["agreement"] for r in rows if r["answers"] == a and
                             r["strategy"] == (strategy if a else "random") and
                             r["method"] == method and isinstance(r["budget"], int)])
              for a, _ in pts]
        ax.plot(xs, ys, marker="o", label=f"{strategy} ({method})")
    for r in rows:
        if r["budget"] == "pluralities" and r["method"] == "offset":
            ax.axhline(100 * r["agreement"], ls="--", c="grey", lw=1,
                       label="every pool face's plurality")
    ax.set_xlabel("single answers (pool faces asked)")
    ax.set_ylabel("--auto targets agreeing with the crowd (%)")
    ax.set_title("label audit calibrated on answers: the judges' agreement")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="fer")
    ap.add_argument("--workspace", type=Path, default=Path("workspace/fer"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", default=BUDGETS)
    ap.add_argument("--out", type=Path, default=Path("bench/results/votes"))
    args = ap.parse_args()
    budgets = [b if b == "all" else int(b) for b in args.budgets.split(",")]
    t = time.perf_counter()
    b = load(args.dataset, args.workspace)
    print(f"{len(b.given)} checked rows; pool {len(b.pool)} voted faces, judges "
          f"{len(b.judges)}; audited in {time.perf_counter() - t:.0f} s")
    rows = run(b, budgets, args.seeds)
    print(table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "votes.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    plot(rows, args.out / "votes.png")
    print(f"wrote {args.out / 'votes.csv'} and {args.out / 'votes.png'}")


if __name__ == "__main__":
    main()
