"""`train compare`: the same backbones, budget and seeds on each data variant (raw vs curated),
on a shared test set; a Markdown + HTML report says where curation helped and whether the
difference is larger than seed noise.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from curate.core import schema
from curate.core.clikit import DEVICE_HELP, pick_device
from curate.core.errors import InputError
from curate.core.options import option
from curate.core.workspace import Workspace
from train import distributed
from train.data import ImageSet
from train.external import ExternalTest, ensure_ingested, load_external, score_external
from train.loop import TrainConfig
from train.report import REPORT_HTML, REPORT_MD, RESULTS, write_report
from train.robust import RECIPES
from train.run import (
    METRICS,
    SCORED_SPLITS,
    TEST_PROBS,
    DataSource,
    load_source,
    named_view,
    read_json,
    run_training,
    test_key,
)
from train.scoring import (
    SCORES,
    SUBSETS,
    Truth,
    build_truth,
    crowd_votes,
    mean_std,
    score_run,
)

log = logging.getLogger(__name__)

# --profile cpu: one fast backbone, 3 seeds, a short schedule (fits 2 CPU cores).
PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {"backbones": ("resnet10t",), "seeds": 3, "epochs": 4, "img_size": 48},
    "gpu": {"backbones": ("resnet18", "efficientnet_b0", "convnext_atto"), "seeds": 3,
            "epochs": 30, "img_size": 64},
}


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """A resolved comparison: named data variants, backbones, seeds and the shared settings;
    what every run is scored on (train/scoring.py) and the external tests."""

    variants: tuple[tuple[str, DataSource], ...]
    backbones: tuple[str, ...]
    seeds: int
    base: TrainConfig
    score_splits: tuple[str, ...] = ("test",)
    external: tuple[ExternalTest, ...] = ()
    dataset: str | None = None  # where the crowd votes of the scored samples are read
    # the folder of the datasets' workspaces: an external test is ingested into <it>/<NAME>
    workspaces: Path = Path("workspace")

    def __post_init__(self) -> None:
        if len(self.variants) < 2:
            raise InputError("compare needs at least two variants, e.g. raw=DIR,curated=DIR")
        names = [n for n, _ in self.variants]
        if len(set(names)) != len(names):
            raise InputError(f"variant names must differ: {', '.join(names)}")
        if self.seeds < 1:
            raise InputError(f"--seeds {self.seeds}: must be at least 1")
        check_score_splits(self.score_splits)
        if len({e.name for e in self.external}) != len(self.external):
            raise InputError("--external-test names must differ")


def check_score_splits(splits: tuple[str, ...]) -> None:
    """--score-split: each scored split at most once, at least one."""
    bad = [x for x in splits if x not in SCORED_SPLITS]
    if bad or not splits or len(set(splits)) < len(splits):
        raise InputError(f"--score-split {','.join(splits)}: use each of "
                         f"{' and '.join(SCORED_SPLITS)} at most once")


def recipe(name: str) -> dict[str, Any]:
    """The TrainConfig settings of a variant: `<base>+<recipe>` (e.g. `raw+gce`) trains on
    <base> with train/robust.py's RECIPES[<recipe>]; a plain name trains as given."""
    _, plus, tail = name.partition("+")
    if not plus:
        return {}
    if tail not in RECIPES:
        raise InputError(f"variant {name!r}: unknown robust-training recipe {tail!r}; use one "
                         f"of {', '.join(RECIPES)} (e.g. raw+gce)")
    return RECIPES[tail]


def parse_variants(text: str, dataset: str | None = None, views: bool = False,
                   restored: bool = True) -> tuple[tuple[str, DataSource], ...]:
    """`raw=DIR,curated=DIR` (or `raw,curated` for views of the dataset) -> named sources; a
    `+recipe` suffix (`raw+gce`) trains on the base view with a robust method."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        if views:
            recipe(item)
            out.append((item, DataSource(view=item.partition("+")[0], dataset=dataset,
                                         restored=restored)))
            continue
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"variant {item!r}: write NAME=DIR, e.g. raw=exports/fer-raw")
        recipe(name.strip())
        out.append((name.strip(), DataSource(folder=Path(path.strip()))))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class CompareSettings:
    """The `train compare` options (each declared once: curate.core.options; also the
    pipeline's [compare] keys); validates itself."""

    variants: str | None = option(None, help="NAME=DIR,NAME=DIR export folders.")
    views: str | None = option(None, help="Or views of the dataset: raw,curated.")
    backbones: tuple[str, ...] = option((), help="timm model names.")
    seeds: int | None = option(None, help="Seeds per backbone and variant.")
    profile: str = option("cpu", help="", choices=tuple(PROFILES))
    epochs: int | None = option(None, help="")
    img_size: int | None = option(None, help="")
    batch_size: int = option(128, help="")
    device: str = option("cpu", help=DEVICE_HELP, cli_default="auto", convert=pick_device)
    out: Path | None = option(None, help="Report folder.")  # default: <workspace>/reports/compare
    dataset: str = "fer"
    workspace: Path | None = None
    restored: bool = option(True, help="With --views: train and test the curated variant on the "
                            "restored files where restoration ran (--no-restored: the original "
                            "files).")
    # val is a dev figure (the FER+ dev votes are val's, and val picks each run's best epoch),
    # never the test claim
    score_split: tuple[str, ...] = option(
        ("test",), choices=SCORED_SPLITS, help="Splits every run is scored on, the first leads: "
        "test (the claim) or val (a dev figure: the FER+ dev votes are val's).")
    external_test: tuple[str, ...] = option(
        (), help="NAME:PATH of another dataset (RAF-DB layout or imagefolder), ingested into "
        "dataset NAME; its test split is scored by every run.")
    progress: bool = True

    def __post_init__(self) -> None:
        if (self.variants is None) == (self.views is None):
            raise InputError("give exactly one of --variants NAME=DIR,... or --views raw,curated")
        if self.profile not in PROFILES:
            raise InputError(f"--profile {self.profile!r}: choose one of {', '.join(PROFILES)}")
        check_score_splits(self.score_split)

    def build(self) -> CompareConfig:
        p = PROFILES[self.profile]
        names = tuple(self.backbones) or p["backbones"]
        base = TrainConfig(backbone=names[0], epochs=self.epochs or p["epochs"],
                           img_size=self.img_size or p["img_size"], batch_size=self.batch_size,
                           device=self.device, patience=0)
        for b in names:
            TrainConfig(backbone=b)  # validates every name before any training
        variants = parse_variants(self.variants or self.views or "", self.dataset,
                                  self.views is not None, self.restored)
        return CompareConfig(variants=variants, backbones=names, seeds=self.seeds or p["seeds"],
                             base=base, score_splits=tuple(self.score_split),
                             external=tuple(ExternalTest.parse(t) for t in self.external_test),
                             dataset=self.dataset, workspaces=self.ws().root.parent)

    def ws(self) -> Workspace:
        """The compared dataset's workspace."""
        return Workspace.for_dataset(self.dataset, self.workspace)


@dataclass(frozen=True, kw_only=True)
class CompareResult:
    """A comparison: every run's result (results.json's records), the summary, the report."""

    results: list[dict[str, Any]]  # one per (variant, backbone, seed): TrainResult.to_dict() + keys
    summary: dict[str, Any]  # {"splits": [truth + `summarise` per scored split]} (results.json's)
    markdown: str
    html: str
    noop: bool = False  # the same comparison on the same data had already run


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """A difference of means, its standard error and whether it exceeds 2 SE (seed noise);
    `se` and `significant` are None with fewer than 2 seeds a side."""

    diff: float
    se: float | None
    significant: bool | None


def run_compare(s: CompareSettings) -> CompareResult:
    """Build the comparison from the options and run it (report under `out`)."""
    out = s.out or s.ws().reports / "compare"
    return compare(s.build(), out, progress=s.progress)


def _check_same_test(loaded: dict[str, ImageSet]) -> None:
    keys = {name: test_key(d) for name, d in loaded.items()}
    if len(set(keys.values())) > 1:
        detail = ", ".join(f"{n}: {len(d.split('test'))} test images"
                           for n, d in loaded.items())
        raise InputError(f"the variants' test sets differ ({detail}); a comparison must share "
                         "the same test samples and labels: re-export with the same test split")
    classes = {d.classes for d in loaded.values()}
    if len(classes) > 1:
        raise InputError("the variants use different label sets; export them with the same classes")


def noise_verdict(a: list[float], b: list[float]) -> Verdict:
    """Difference of means (b - a), its standard error, and whether it exceeds 2 SE."""
    diff = float(np.mean(b) - np.mean(a))
    if len(a) < 2 or len(b) < 2:
        return Verdict(diff=diff, se=None, significant=None)
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    return Verdict(diff=diff, se=se, significant=bool(abs(diff) > 2 * se))


def compare(cfg: CompareConfig, out: Path, *, progress: bool = False) -> CompareResult:
    """Train every (variant, backbone, seed); returns all results plus the report paths."""
    t0 = time.perf_counter()
    fp = inputs_fingerprint(cfg)
    done = _already_done(out, fp)
    if done is not None:
        return done
    by_source: dict[str, ImageSet] = {}  # raw and raw+gce share one load
    for _, src in cfg.variants:
        if src.describe() not in by_source:
            by_source[src.describe()] = load_source(src, cfg.base.img_size, cfg.base.in_chans,
                                                    progress)
    loaded = {name: by_source[src.describe()] for name, src in cfg.variants}
    _check_same_test(loaded)
    results = _train_all(cfg, loaded, out, progress)
    if not distributed.current().main:  # torchrun: rank 0 scores and writes the report
        return CompareResult(results=[], summary={"splits": []}, markdown="", html="")
    truths = {split: _truth(cfg, loaded, split) for split in cfg.score_splits}
    for r in results:
        r["scores"] = {split: score_run(Path(r["run"]), t) for split, t in truths.items()}
    _score_external(cfg, results, progress)
    names = [n for n, _ in cfg.variants]
    externals = [e.name for e in cfg.external]
    summary = {"splits": [  # the external tests go with the lead split's block
        {"truth": describe_truth(t),
         **summarise(results, names, cfg.backbones, externals if k == 0 else [], split)}
        for k, (split, t) in enumerate(truths.items())]}
    paths = write_report(out, results, summary, time.perf_counter() - t0, fingerprint=fp)
    return CompareResult(results=results, summary=summary, markdown=paths.markdown,
                         html=paths.html)


def _truth(cfg: CompareConfig, loaded: dict[str, ImageSet], split: str) -> Truth:
    """A scored split's shared samples, labels and (where the dataset has them) crowd votes."""
    base, src = cfg.variants[0]
    votes = crowd_votes(src, loaded[base].split(split), cfg.dataset)
    return build_truth(loaded, base, split, votes.votes, votes.calibrating, votes.sources)


def describe_truth(t: Truth) -> dict[str, Any]:
    """What the scores were computed on, and who gave the judging answers (the reports' first
    section: train/report_answers.py)."""
    from curate.core.votes import emotion_majority

    majority = 0 if t.votes is None else int((emotion_majority(t.votes) >= 0).sum())
    return {"split": t.split, "n": len(t.keys), "voted": t.voted, "majority": majority,
            "left_out": t.voted - majority, "with_train_copy": int(t.copied.sum()),
            "calibrating": t.calibrating, "answers": t.answers}


def _score_external(cfg: CompareConfig, results: list[dict[str, Any]], progress: bool) -> None:
    """Every run's best checkpoint on each external test (`r["external"][name]`)."""
    for ext in cfg.external:
        ensure_ingested(ext, cfg.workspaces / ext.name)
        data = load_external(ext, cfg.base.img_size, cfg.base.in_chans, progress)
        log.info("external test %s: %d images", ext.name, len(data))
        for r in results:
            r.setdefault("external", {})[ext.name] = score_external(
                Path(r["run"]), data, ext, cfg.base.device)


def _already_done(out: Path, fp: str) -> CompareResult | None:
    """The comparison in `out`, when it ran with fingerprint `fp` and its runs are intact."""
    done = read_json(out / RESULTS)
    intact = all((Path(r["run"]) / f).is_file() for r in done.get("results", [])
                 for f in (METRICS, TEST_PROBS))
    if done.get("fingerprint") != fp or not intact or not (out / REPORT_MD).is_file():
        return None
    log.info("%s: the same comparison on the same data already ran; nothing to do", out)
    return CompareResult(results=done["results"], summary=done["summary"],
                         markdown=str(out / REPORT_MD), html=str(out / REPORT_HTML), noop=True)


def _train_all(cfg: CompareConfig, loaded: dict[str, ImageSet], out: Path,
               progress: bool) -> list[dict[str, Any]]:
    """One run per (backbone, seed, variant), under `out/runs/<variant>-<backbone>-s<seed>`."""
    results: list[dict[str, Any]] = []
    for backbone in cfg.backbones:
        for seed in range(cfg.seeds):
            for name, src in cfg.variants:
                tc = replace(cfg.base, backbone=backbone, seed=seed, **recipe(name))
                run_dir = out / "runs" / f"{name}-{backbone}-s{seed}"
                log.info("training %s on %s (seed %d)", backbone, name, seed)
                r = run_training(src, tc, run_dir, progress=progress, data=loaded[name])
                if r is None:  # a torchrun rank other than 0
                    continue
                results.append({"variant": name, "backbone": backbone, "seed": seed,
                                "run": str(run_dir), **r.to_dict()})
    return results


def inputs_fingerprint(cfg: CompareConfig) -> str:
    """The settings plus what each variant holds (a view's ids, labels, files and splits; an
    export's files with sizes and times): unchanged means the comparison is already done."""
    from curate.core import runs

    rows: list[tuple] = []
    for name, src in cfg.variants:
        if src.folder is not None:
            root = Path(src.folder)
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    st = p.stat()
                    rows.append((name, p.relative_to(root).as_posix(), st.st_size, st.st_mtime_ns))
        else:
            from curate.core import store

            view, field = named_view(store.load_dataset(src.dataset or "fer"), src.view or "",
                                     src.restored)
            names = ["id", f"{field}.label", schema.FILEPATH, schema.SPLIT]
            # soft labels (apply --soften) are training targets: a change re-runs the comparison
            # (an augmented copy's comes from its parent, whose row is here)
            have = view.get_field_schema()
            names += [schema.SOFT_LABEL] if schema.SOFT_LABEL in have else []
            # crowd votes are what the clean-label scores use: new votes re-score the runs
            names += [schema.FERPLUS_VOTES] if schema.FERPLUS_VOTES in have else []
            cols = view.values(names)
            rows += [(name, *r) for r in sorted(zip(*cols, strict=True))]
    settings = {"variants": [(n, s.describe()) for n, s in cfg.variants],
                "backbones": list(cfg.backbones), "seeds": cfg.seeds, "train": cfg.base.to_dict(),
                "score_splits": list(cfg.score_splits),
                "external": [(e.name, str(e.path)) for e in cfg.external]}
    return runs.fingerprint(settings, rows)


def score_of(r: dict[str, Any], metric: str, split: str = "test") -> float | None:
    """One run's value of a report metric (`metric_names`) on a scored split, None where it
    has none."""
    for label, label_set, key in SCORES:
        for subset in SUBSETS:
            if metric == _metric_name(label, subset):
                scores = ((r.get("scores") or {}).get(split) or {})
                got = (scores.get(label_set) or {}).get(subset)
                return None if got is None else got[key]
    name, _, key = metric.rpartition(" ")
    got = (r.get("external") or {}).get(name)
    return None if got is None else got[{"accuracy": "accuracy", "macro-F1": "macro_f1"}[key]]


def _metric_name(label: str, subset: str) -> str:
    return label if subset == "all" else f"{label} (without train copies)"


def metric_names(externals: list[str]) -> list[str]:
    """Every metric of the report, leading with the crowd's (train/scoring.py SCORES), each
    whole and without train copies, then each external test's accuracy and macro-F1."""
    return ([_metric_name(label, sub) for sub in SUBSETS for label, _, _ in SCORES]
            + [f"{e} {m}" for e in externals for m in ("accuracy", "macro-F1")])


def summarise(results: list[dict], variants: list[str], backbones: tuple[str, ...],
              externals: list[str] | None = None,
              split: str = "test") -> dict[str, list[dict[str, Any]]]:
    """On one scored split: mean ± std per (backbone, variant) of every metric all its runs
    have, and the noise verdicts: each variant vs the first (raw), and each plain variant vs
    the best robust-training baseline (`<base>+<recipe>`) on that metric."""
    table, verdicts = [], []
    names = metric_names(externals or [])
    robust = [v for v in variants if recipe(v)]
    for bb in backbones:
        per = {v: [r for r in results if r["backbone"] == bb and r["variant"] == v]
               for v in variants}
        values = {v: {m: [score_of(r, m, split) for r in rs] for m in names}
                  for v, rs in per.items()}
        have = [m for m in names if all(None not in values[v][m] and values[v][m]
                                        for v in variants)]
        table += [_table_row(bb, v, rs, {m: values[v][m] for m in have}) for v, rs in per.items()]
        base = variants[0]
        for m in have:
            for v in variants[1:]:
                verdicts.append(_verdict(bb, m, base, v, values))
            if not robust:
                continue
            best = max(robust, key=lambda v, m=m: float(np.mean(values[v][m])))
            for v in variants[1:]:
                if not recipe(v):
                    verdicts.append({**_verdict(bb, m, best, v, values), "against": "best robust"})
    return {"table": table, "verdicts": verdicts}


def _verdict(bb: str, metric: str, base: str, variant: str,
             values: dict[str, dict[str, list]]) -> dict[str, Any]:
    v = noise_verdict(values[base][metric], values[variant][metric])
    return {"backbone": bb, "metric": metric, "baseline": base, "variant": variant,
            "against": "baseline", **asdict(v)}


def _table_row(backbone: str, variant: str, rs: list[dict],
               values: dict[str, list[float]]) -> dict[str, Any]:
    """The mean ± std row of one (backbone, variant) over its seeds."""
    return {"backbone": backbone, "variant": variant, "seeds": len(rs),
            "scores": {m: mean_std(v) for m, v in values.items()},
            "ece": mean_std([r["test"]["ece"] for r in rs]),
            "train_seconds": float(np.mean([r["cost"]["train_seconds"] for r in rs]))}
