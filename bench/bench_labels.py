"""Benchmark of the label audit against the FER+ dev votes (the val rows of FER-2013).

    .venv/bin/python bench/bench_labels.py [--profiles cpu,default] [--dataset NAME --workspace WS]

Without --dataset: ingests FER-2013 and the dev votes (`../shared/datasets/ferplus-dev/`) into
the dataset `fer` of the database FIFTYONE_DATABASE_NAME (default bench_labels), workspace
/tmp/bench_labels/ws, runs the duplicate check, then for each profile `curate clean --checks
labels` (cpu: the main job's 3 folds x 5 epochs with --fast; default: 5 x 6), timed, and scores
it. With --dataset: scores that dataset's last label check as it is (no clean is run).

The votes are the truth here and nothing else: the audit never reads them to rank or flag
(`--knn`, the mix weight, the joint and the per-class flag rule come from the given labels and
the out-of-fold probabilities). A flag is right when the plurality of the 10 FER+ votes is
another column than the FER-2013 label (`crowd.plurality_wrong`; base rate 37.7% on val).

Printed per profile: precision@k (100, 250, 500, 1000), AUROC, per-class precision among the
top 500, and the flag set's size, precision and recall, for each signal alone (model, kNN), the
combination (what `curate clean` writes) and, as the same-run reference, plain cleanlab
(`find_label_issues` + self-confidence ranking on the same out-of-fold probabilities, what a
notebook wires by hand); then the targets each `curate apply` policy makes, on the voted val
rows: agreement with the crowd plurality and the soft-label mass on the vote distribution.
Last, the ceilings of the crowd-free audit: the flag recall at precision 0.80 and the `--auto`
gain that any cut on its scores could reach if the cut were chosen with the votes (upper bounds,
not rules), and each class's error rate to the crowd beside the audit's estimates.
The same figures again on the half of the voted rows that the main job's `--crowd-holdout 0.5`
keeps out of the calibration (the judges), with the audit calibrated on the other half only:
the figures of a crowd-aware audit on rows whose votes it never saw, in any fold.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("FIFTYONE_DATABASE_NAME", "bench_labels")
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "datasets"
FER = SHARED / "fer2013" / "fer2013.csv.gz"
VOTES = SHARED / "ferplus-dev" / "fer2013new-dev.csv"
WS = Path("/tmp/bench_labels/ws")
KS = (100, 250, 500, 1000)
PROFILE_ARGS = {"cpu": ["--fast", "--folds", "3", "--epochs", "5"], "default": []}
SOFTEN = (0.3, 0.5)
HOLDOUT = 0.5  # the main job's `--crowd-holdout`: the judging half of the voted rows
TARGET_PRECISION = 0.8  # issue 16's flag-set target (the ceilings below)


def _curate(dataset: str, ws: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "curate.cli", "--dataset", dataset, "--workspace",
                    str(ws), "--no-progress", *args], check=True)


def _prepare(dataset: str, ws: Path) -> None:
    from curate.core import store

    if not store.fo().dataset_exists(dataset) or len(store.load_dataset(dataset)) == 0:
        _curate(dataset, ws, "ingest", "fer2013", str(FER))
        _curate(dataset, ws, "ingest", "ferplus", str(VOTES))
        _curate(dataset, ws, "clean", "--checks", "duplicates")


def _arrays(dataset: str, ws: Path):  # noqa: ANN202 - (LabelArrays, LabelsConfig)
    """The last label check's inputs and settings, read back as `curate clean` read them."""
    from curate.clean import labels
    from curate.clean.config import LabelsConfig
    from curate.clean.oof import read_features
    from curate.core import runs, schema, store, views

    ds = store.load_dataset(dataset)
    last = runs.last(ds, runs.check_stage("labels"))
    cfg = last.config
    if not last:
        raise SystemExit(f"dataset {dataset!r} has no label check: run `curate clean`")
    feats = sorted((ws / "runs" / "oof").glob("*/features.npz"), key=lambda p: p.stat().st_mtime)
    # the labels clean audited (`audited_view`): after `apply --auto` (the main job, or a
    # pipeline run on this dataset) the current labels are partly the audit's own suggestions
    view = views.audited_view(ds.match(schema.real()))
    known = {f.name for f in LabelsConfig.__dataclass_fields__.values()}
    lcfg = LabelsConfig(**{k: v for k, v in cfg.items() if k in known and k != "device"})
    return labels.read_arrays(view, read_features(feats[-1])), lcfg


def _ranking(score: np.ndarray, wrong: np.ndarray, given: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    from curate.core.taxonomy import CLASSES

    order = np.argsort(-score, kind="stable")
    out = {f"p@{k}": float(wrong[order[:k]].mean()) for k in KS}
    out["auroc"] = float(roc_auc_score(wrong, score))
    top = order[:500]
    for c, name in enumerate(CLASSES):
        m = given[top] == c
        out[f"top500:{name}"] = float(wrong[top][m].mean()) if m.any() else float("nan")
    return out


def _flagset(flag: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    tp = float((flag & wrong).sum())
    return {"flags": int(flag.sum()), "precision": tp / max(int(flag.sum()), 1),
            "recall": tp / max(int(wrong.sum()), 1)}


def _methods(data, cfg):  # noqa: ANN001, ANN202
    """Per method: (score, flags) on the checked rows, each computed without the votes."""
    import warnings

    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    from curate.clean import crowd, signals
    from curate.clean.calibration import AnswerSet
    from curate.clean.label_scores import score_labels
    from curate.core.taxonomy import CLASSES, EDITABLE_SPLITS

    checked = np.flatnonzero(np.isin(data.splits, EDITABLE_SPLITS))
    y, p = data.labels[checked], signals.normalise(data.probs[checked])
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_flags = np.zeros(len(y), bool)
        ref_flags[find_label_issues(y, p, filter_by="prune_by_noise_rate")] = True
        out["plain cleanlab (reference)"] = (1 - get_label_quality_scores(y, p), ref_flags)
    v = score_labels(y, p, data.heldout[checked], data.fold[checked],
                     target_precision=cfg.target_precision, knn=cfg.knn)
    for name in ("model", "knn"):
        _, _, pw = signals.estimate(y, v.sig.probs(name))
        out[f"{name} alone"] = (pw, signals.flag_to_precision(pw, y, len(CLASSES),
                                                              cfg.target_precision))
    out[f"combined, crowd-free (knn weight {v.sig.weight:.2f})"] = (v.p_wrong, v.is_issue)
    vc = score_labels(y, p, data.heldout[checked], data.fold[checked],
                      target_precision=cfg.target_precision, knn=cfg.knn,
                      answers=AnswerSet.from_counts(crowd.emotion_votes(data.votes[checked])),
                      seed=cfg.seed)
    out["combined, crowd-calibrated (cross-fitted)"] = (vc.p_wrong, vc.is_issue)
    judge = crowd.judges([data.source_ids[i] for i in checked], HOLDOUT, cfg.seed)
    half = crowd.emotion_votes(data.votes[checked])
    half[judge] = 0
    vh = score_labels(y, p, data.heldout[checked], data.fold[checked],
                      target_precision=cfg.target_precision, knn=cfg.knn,
                      answers=AnswerSet.from_counts(half), seed=cfg.seed)
    out[f"combined, calibrated on the other {1 - HOLDOUT:.0%} (--crowd-holdout)"] = (
        vh.p_wrong, vh.is_issue)
    return checked, out, {"crowd-free": v, "crowd-calibrated": vc, "held-out": vh}, judge


def _score(dataset: str, ws: Path, seconds: float | None) -> None:

    data, cfg = _arrays(dataset, ws)
    checked, methods, verdicts, judge = _methods(data, cfg)
    votes = data.votes[checked]
    voted = votes.sum(1) > 0
    print(f"\n## {dataset}" + (f": clean labels {seconds / 60:.1f} min" if seconds else ""))
    held = {k: m for k, m in methods.items() if "crowd-calibrated" not in k}
    for title, rows, which in (("every voted val row", voted, methods),
                               (f"the {HOLDOUT:.0%} held out of the calibration (judges; the "
                                "main job's --crowd-holdout)", voted & judge, held)):
        _table(title, rows, which, data, checked)
    _policies(data, checked, voted, {k: v for k, v in verdicts.items() if k != "held-out"},
              "every voted val row")
    _policies(data, checked, voted & judge, {k: v for k, v in verdicts.items()
                                             if k != "crowd-calibrated"}, "the judges")
    _ceilings(data, checked, voted, verdicts["crowd-free"])


def _ceilings(data, checked, voted, verdict) -> None:  # noqa: ANN001
    """What any rule on the crowd-free audit could reach, each cut chosen WITH the votes: upper
    bounds of the issue's crowd-free targets (flag recall at precision 0.80, `--auto`'s gain),
    never rules to ship, and the per-class error rates a crowd-free rule would have to know."""
    from curate import apply
    from curate.clean import crowd
    from curate.core.taxonomy import CLASSES

    given = data.labels[checked][voted]
    votes = data.votes[checked][voted]
    wrong = crowd.plurality_wrong(given, votes)
    p_wrong = verdict.p_wrong[voted]
    order = np.argsort(-p_wrong, kind="stable")
    tp = np.cumsum(wrong[order])
    ok = tp / np.arange(1, len(tp) + 1) >= TARGET_PRECISION
    single = tp[ok].max() / wrong.sum() if ok.any() else 0.0
    per_class = []  # each class's cumulative true flags down its own ranking
    for c in range(len(CLASSES)):
        m = np.flatnonzero(given == c)
        per_class.append(np.cumsum(wrong[m][np.argsort(-p_wrong[m], kind="stable")]))
    best = 0.0
    for mu in np.linspace(0.3, 1.0, 281):  # Lagrangian scan over the per-class cut depths
        hits = cuts = 0
        for t in per_class:
            gain = np.concatenate([[0.0], t - mu * np.arange(1, len(t) + 1)])
            k = int(gain.argmax())
            hits, cuts = hits + (t[k - 1] if k else 0), cuts + k
        if cuts and hits / cuts >= TARGET_PRECISION:
            best = max(best, hits / wrong.sum())
    post = verdict.sig.posterior[voted]
    rows = np.arange(len(given))
    other = np.where(np.arange(len(CLASSES))[None, :] == given[:, None], -1.0, post).argmax(1)
    margin = post[rows, other] - post[rows, given]
    plurality = votes.argmax(1)

    def agree(labels: np.ndarray) -> np.ndarray:
        return (crowd.CLASS_COLUMN[labels] == plurality).astype(int)

    change = agree(other) - agree(given)
    bayes = agree(apply.auto_relabel_targets(given, post)).sum() - agree(given).sum()
    m_order = np.argsort(-margin, kind="stable")
    cum = np.cumsum(change[m_order])
    k = int(cum.argmax())
    print("\nceilings of the crowd-free audit on every voted val row (cuts chosen WITH the "
          "votes: upper bounds, not rules):")
    print(f"- flag recall at precision >= {TARGET_PRECISION}: one threshold {single:.3f}; "
          f"per-class thresholds {best:.3f}")
    print(f"- --auto, agreement with the crowd: its rule (relabel where likelier) "
          f"{100 * bayes / len(given):+.1f} points; the best cut on the "
          f"margin {100 * cum[k] / len(given):+.1f} (margin > {margin[m_order[k]]:.2f}, "
          f"{k + 1} relabels)")
    joint = verdict.sig.joint
    print("\n| given label | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---:|" * len(CLASSES))
    print("| wrong to the crowd | " + " | ".join(
        f"{wrong[given == c].mean():.3f}" for c in range(len(CLASSES))) + " |")
    print("| mean label_error_prob | " + " | ".join(
        f"{p_wrong[given == c].mean():.3f}" for c in range(len(CLASSES))) + " |")
    print("| confident joint's error rate | " + " | ".join(
        f"{1 - joint[c, c] / max(joint[c].sum(), 1e-12):.3f}" for c in range(len(CLASSES))) + " |")


def _table(title: str, rows: np.ndarray, methods: dict, data, checked) -> None:  # noqa: ANN001
    """Ranking and flag-set figures of each method on the voted `rows` of the checked ones."""
    from curate.clean import crowd
    from curate.core.taxonomy import CLASSES

    votes = data.votes[checked]
    given = data.labels[checked][rows]
    wrong = crowd.plurality_wrong(given, votes[rows])
    print(f"\n### on {title}: {int(rows.sum())} rows, {int(wrong.sum())} wrong "
          f"({wrong.mean():.1%})")
    cols = [*(f"p@{k}" for k in KS), "auroc", "flags", "precision", "recall"]
    print("| method | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    per_class = {}
    for name, (score, flags) in methods.items():
        r = _ranking(score[rows], wrong, given) | _flagset(flags[rows], wrong)
        per_class[name] = r
        print(f"| {name} | " + " | ".join(
            str(r[c]) if c == "flags" else f"{r[c]:.3f}" for c in cols) + " |")
    print("\nper-class precision among the top 500 (by given label):")
    print("| method | " + " | ".join(CLASSES) + " |")
    print("|---|" + "---:|" * len(CLASSES))
    for name, r in per_class.items():
        print(f"| {name} | " + " | ".join(f"{r['top500:' + c]:.2f}" for c in CLASSES) + " |")


def _policies(data, checked, voted, verdicts, title: str) -> None:  # noqa: ANN001
    """The train targets each apply policy makes, on the voted val rows `voted` (the --auto
    policies with each verdict's posterior: crowd-free, crowd-calibrated cross-fitted, or
    calibrated on the other half)."""
    from curate import apply
    from curate.clean import crowd
    from curate.core.taxonomy import CLASSES

    given = data.labels[checked][voted]
    votes = data.votes[checked][voted]
    share = crowd.vote_shares(votes)
    plurality = votes.argmax(1)
    onehot = np.eye(len(CLASSES))[given]
    targets = {"original labels": onehot}
    for a in SOFTEN:
        targets[f"--soften {a} (from the out-of-fold probabilities, as before)"] = np.array(
            [apply.soft_target(CLASSES[g], p, a) for g, p in zip(given, data.probs[checked][voted])])
    for kind, verdict in verdicts.items():
        post = verdict.sig.posterior[voted]
        relabel = apply.auto_relabel_targets(given, post)
        targets[f"--auto, {kind} (relabel where likelier)"] = np.eye(len(CLASSES))[relabel]
        for a in SOFTEN:
            targets[f"--auto --soften {a}, {kind}"] = np.array(
                [apply.soft_target(CLASSES[g], p, a) for g, p in zip(relabel, post)])
    verdict = verdicts["crowd-free"]
    audit = crowd.audit(given, verdict.suggested[voted], verdict.sig.probs("combined")[voted],
                        votes)
    lab = np.where(audit.label >= 0, audit.label, given)
    targets["--labels crowd"] = np.eye(len(CLASSES))[lab]
    targets["--soft-from votes"] = np.where(share.sum(1, keepdims=True) > 0, share, onehot)
    print(f"\ncurated targets on {title} ({int(voted.sum())} rows):")
    print("| policy | agrees with the crowd plurality | soft mass on the votes |")
    print("|---|---:|---:|")
    for name, t in targets.items():
        agree = float((crowd.CLASS_COLUMN[t.argmax(1)] == plurality).mean())
        mass = float((t * share).sum(1).mean())
        print(f"| {name} | {agree:.1%} | {mass:.3f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--profiles", default="cpu", help="comma-separated: cpu, default")
    ap.add_argument("--dataset", help="score this dataset's last label check (no clean run)")
    ap.add_argument("--workspace", type=Path, help="with --dataset: its workspace")
    args = ap.parse_args()
    if args.dataset:
        ws = args.workspace or Path("workspace") / args.dataset
        _score(args.dataset, ws, None)
        return
    for profile in [p.strip() for p in args.profiles.split(",") if p.strip()]:
        if profile not in PROFILE_ARGS:
            raise SystemExit(f"--profiles: unknown {profile!r}; use cpu, default")
        dataset = f"fer_{profile}"
        _prepare(dataset, WS / profile)
        t = time.perf_counter()
        _curate(dataset, WS / profile, "clean", "--checks", "labels", "--device", "auto",
                *PROFILE_ARGS[profile])
        _score(dataset, WS / profile, time.perf_counter() - t)


if __name__ == "__main__":
    main()
