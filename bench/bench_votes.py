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
plurality (the gain denominator of issue 37's 85% target) and every answer of every pool face;
and a bound: the calibration fitted in-sample on the judges' own pluralities (best penalty).

Prints a Markdown table (mean and min-max over seeds) and writes `votes.csv` and `votes.png`
(target agreement against budget, per strategy) under --out.

`--compare 0,400[,all]` then trains on what each budget curates (~15 minutes per budget on 2
cores, run alone: training runs that share the cores slow each other down many times over). Per
budget, a clone of the dataset (`<dataset>-answers<N>`, its own workspace beside the source's,
sharing the media) keeps the judges' votes, loses every pool face's, and gets N single answers of
the default strategy through `curate votes import` (a FER+-format file); then the pipeline file's
stages from clean on (`--pipeline`, the main job's; restore and synth left out, as the curated
export does not use restored files) run on it, with `train compare` of raw and curated only (raw
is the same data at every budget: the source's finished raw runs are reused). "all" keeps every
pool face's votes (the main job's calibration). Prints the crowd agreement and majority accuracy
of the curated runs on the judges and curated - raw (2 SE, the comparison report's rule) and
writes `compare.csv`. A re-run resumes: a clone that was prepared is reused, and the pipeline
skips what is done.
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

    ids: list[str]  # sample ids of the rows
    source_ids: list[str]  # FER-2013 row of each row
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
    return Bench([data.ids[i] for i in checked], [data.source_ids[i] for i in checked],
                 y, mixed, q, v.p_wrong, v.suggested, calibration.features(y, mixed), votes,
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

    full = _emotion_counts(b, rows, counts)
    if method == "previous":
        return _previous(b, full)
    cal = calibration.calibrate(b.q, b.x, calibration.AnswerSet.from_counts(full), seed=b.seed)
    return b.q if cal is None else cal.posterior


def _emotion_counts(b: Bench, rows: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """(checked rows, 7): the emotion answers of `rows` (`counts`: 10 FER+ columns), 0 elsewhere."""
    from curate.core.votes import emotion_votes

    full = np.zeros((len(b.given), 7))
    full[rows] = emotion_votes(counts)
    return full


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
    rows.append({"budget": "judges in-sample", "answers": int(b.votes[b.judges].sum()),
                 "strategy": "ceiling", "method": "offset", "seed": 0, **ceiling(b),
                 "seconds": 0.0})
    return rows


def ceiling(b: Bench) -> dict[str, float]:
    """The calibration fitted on the judges' own pluralities and scored on them, in-sample, at
    the penalty that scores best: what this design can reach on these signals at all (a bound,
    not a result: it fits the answers that judge)."""
    from curate.clean import calibration

    answers = calibration.AnswerSet.from_counts(_emotion_counts(b, b.judges, b.votes[b.judges]))
    offset = np.log(np.clip(b.q, 1e-9, 1.0))
    return max((score(b, calibration.fit(offset, b.x, answers, lam).predict(offset, b.x))
                for lam in calibration.LAMBDAS), key=lambda r: r["agreement"])


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
        if r["strategy"] == "ceiling":
            ax.axhline(100 * r["agreement"], ls=":", c="black", lw=1,
                       label="bound: fitted on the judges themselves")
    ax.set_xlabel("single answers (pool faces asked)")
    ax.set_ylabel("--auto targets agreeing with the crowd (%)")
    ax.set_title("label audit calibrated on answers: the judges' agreement")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def prepare_clone(b: Bench, source: str, ws: Path, budget: int | str, ferplus_file: Path
                  ) -> tuple[str, Path]:
    """The dataset a budget curates: a clone of `source` whose pool faces hold only the
    budget's single answers (imported as FER+'s format), with the source's fold models."""
    import shutil

    from curate.core import schema, store
    from curate.votes import db
    from curate.votes.config import VotesImportConfig
    from curate.votes.stage import import_answers

    name = f"{source}-answers{budget}"
    out_ws = ws.parent / name
    done = out_ws / "prepared.txt"
    fo = store.fo()
    if fo.dataset_exists(name) and done.is_file():
        return name, out_ws
    if fo.dataset_exists(name):  # a clone interrupted before it was ready
        fo.delete_dataset(name)
    shutil.rmtree(out_ws, ignore_errors=True)
    shutil.copytree(ws / "runs", out_ws / "runs")  # the fold models: clean reuses them
    clone = store.load_dataset(source).clone(name, persistent=True)
    if budget != "all":
        pool = [b.ids[i] for i in b.pool]
        store.set_fields(clone, pool, {schema.ANSWERS: [[] for _ in pool],
                                       **{f: [None] * len(pool) for f in db.DERIVED_FIELDS}})
        if int(budget):
            chosen = choose(b, "stratified", int(budget), 0)
            counts = draw_answers(b, chosen, 1, np.random.default_rng(1000))
            path = out_ws / "answers-ferplus.csv"
            _write_ferplus(ferplus_file, path, {int(b.source_ids[r]): c
                                                for r, c in zip(chosen, counts, strict=True)})
            report, _ = import_answers(VotesImportConfig(path=path, dataset=name,
                                                         workspace=out_ws, progress=False))
            print(f"{name}: imported {report.answers_added} answers on {report.samples} faces")
    done.write_text(f"{source} budget {budget}\n")
    return name, out_ws


def _write_ferplus(template: Path, out: Path, answers: dict[int, np.ndarray]) -> None:
    """FER+'s file with every vote cleared but `answers` (FER-2013 row -> 10 counts)."""
    with template.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    with out.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(rows[0])
        for i, row in enumerate(rows[1:]):
            got = answers.get(i)
            w.writerow(row[:2] + [str(int(c)) for c in got] if got is not None
                       else [row[0]] + [""] * (len(row) - 1))


def compare_budget(cfg_path: Path, name: str, out_ws: Path, source_ws: Path) -> list[dict]:
    """The pipeline from clean on (no restore, no synth; compare: raw and curated) on a clone;
    each run's crowd scores on the judges. Raw is the same data at every budget: the
    source's finished raw runs are copied in, and the compare reuses them where its own check
    (same settings, same images, labels and splits) accepts them, else trains them again."""
    import shutil
    from dataclasses import replace

    from curate.pipeline import run_pipeline
    from curate.pipeline.config import load_config
    from train.compare import score_of
    from train.report import RESULTS
    from train.run import METRICS, read_json

    cfg = load_config(cfg_path)
    stages = tuple(replace(e, settings={**e.settings, "views": "raw,curated"})
                   if e.spec.name == "compare" else e
                   for e in cfg.stages if e.spec.name not in ("restore", "synth"))
    runs = out_ws / "reports" / "compare" / "runs"
    for done in sorted((source_ws / "reports" / "compare" / "runs").glob("raw-*")):
        if (done / METRICS).is_file() and not (runs / done.name / METRICS).is_file():
            shutil.rmtree(runs / done.name, ignore_errors=True)  # an unfinished run of its own
            shutil.copytree(done, runs / done.name)
    run_pipeline(replace(cfg, dataset=name, workspace=out_ws, stages=stages), start="clean")
    results = read_json(out_ws / "reports" / "compare" / RESULTS)["results"]
    return [{"variant": r["variant"], "seed": r["seed"],
             **{m: score_of(r, m, "val") for m in CROWD}} for r in results]


CROWD = ("crowd agreement", "crowd majority accuracy")


def compare_table(rows: list[dict]) -> str:
    """Per budget: curated's mean on the judges and curated - raw with its 2 SE, by the
    comparison report's own rule (`train.compare.noise_verdict`)."""
    from train.compare import noise_verdict

    out = ["| single answers | seeds | " + " | ".join(f"curated {m} | curated - raw (2 SE)"
                                                   for m in CROWD) + " |",
           "|---|---:|" + "---:|---|" * len(CROWD)]
    for budget in dict.fromkeys(r["budget"] for r in rows):
        runs = {v: [r for r in rows if r["budget"] == budget and r["variant"] == v]
                for v in ("raw", "curated")}
        cells = []
        for m in CROWD:
            raw, cur = ([100 * r[m] for r in runs[v]] for v in ("raw", "curated"))
            v = noise_verdict(raw, cur)
            se = "1 seed" if v.se is None else f"{2 * v.se:.1f}"
            cells.append(f"{np.mean(cur):.1f} | {v.diff:+.1f} ({se})")
        out.append(f"| {budget} | {len(runs['curated'])} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="fer")
    ap.add_argument("--workspace", type=Path, default=Path("workspace/fer"))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budgets", default=BUDGETS)
    ap.add_argument("--out", type=Path, default=Path("bench/results/votes"))
    ap.add_argument("--compare", default="", help="budgets to train on (e.g. 0,400,all)")
    ap.add_argument("--pipeline", type=Path, default=ROOT / "pipelines" / "fer2013-cpu.toml")
    ap.add_argument("--ferplus", type=Path,
                    default=ROOT.parent / "shared" / "datasets" / "ferplus-dev" / "fer2013new-dev.csv")
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
    compared: list[dict] = []
    if args.compare:  # the pipeline's stage lines, as `curate pipeline` prints them
        import logging

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    source_ws = args.workspace.resolve()
    for budget in [c for c in args.compare.split(",") if c]:
        name, out_ws = prepare_clone(b, args.dataset, source_ws, budget, args.ferplus)
        compared += [{"budget": budget, **r}
                     for r in compare_budget(args.pipeline, name, out_ws, source_ws)]
    if compared:
        print(compare_table(compared))
        with (args.out / "compare.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(compared[0]))
            w.writeheader()
            w.writerows(compared)


if __name__ == "__main__":
    main()
