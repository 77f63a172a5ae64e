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
from curate.core.errors import InputError
from train.data import ImageSet
from train.loop import TrainConfig
from train.metrics import Metrics, evaluate
from train.report import REPORT_HTML, REPORT_MD, RESULTS, write_report
from train.robust import RECIPES
from train.run import (
    METRICS,
    TEST_PROBS,
    DataSource,
    load_probs,
    load_source,
    named_view,
    read_json,
    run_training,
    test_key,
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
    """A resolved comparison: named data variants, backbones, seeds and the shared settings."""

    variants: tuple[tuple[str, DataSource], ...]
    backbones: tuple[str, ...]
    seeds: int
    base: TrainConfig

    def __post_init__(self) -> None:
        if len(self.variants) < 2:
            raise InputError("compare needs at least two variants, e.g. raw=DIR,curated=DIR")
        names = [n for n, _ in self.variants]
        if len(set(names)) != len(names):
            raise InputError(f"variant names must differ: {', '.join(names)}")
        if self.seeds < 1:
            raise InputError(f"--seeds {self.seeds}: must be at least 1")


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
    """`train compare`'s options (also the pipeline's [compare] keys); validates itself."""

    variants: str | None = None  # NAME=DIR,NAME=DIR
    views: str | None = None  # or views of the dataset: raw,curated
    backbones: tuple[str, ...] = ()
    seeds: int | None = None
    profile: str = "cpu"
    epochs: int | None = None
    img_size: int | None = None
    batch_size: int = 128
    device: str = "cpu"
    out: Path | None = None  # default: <workspace>/reports/compare
    dataset: str = "fer"
    workspace: Path | None = None
    restored: bool = True  # views: the curated images are the restored files where present
    progress: bool = True

    def __post_init__(self) -> None:
        if (self.variants is None) == (self.views is None):
            raise InputError("give exactly one of --variants NAME=DIR,... or --views raw,curated")
        if self.profile not in PROFILES:
            raise InputError(f"--profile {self.profile!r}: choose one of {', '.join(PROFILES)}")

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
                             base=base)


@dataclass(frozen=True, kw_only=True)
class CompareResult:
    """A comparison: every run's result (results.json's records), the summary, the report."""

    results: list[dict[str, Any]]  # one per (variant, backbone, seed): TrainResult.to_dict() + keys
    summary: dict[str, Any]  # `summarise` + test_with_train_copy (results.json's summary)
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
    from curate.core.workspace import Workspace

    out = s.out or Workspace.for_dataset(s.dataset, s.workspace).reports / "compare"
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
    copies = test_with_train_copy(loaded)
    for r in results:
        test = loaded[r["variant"]].split("test")
        r["test_without_train_copies"] = rescore(Path(r["run"]) / TEST_PROBS, test, copies)
    summary = summarise(results, [n for n, _ in cfg.variants], cfg.backbones)
    summary["test_with_train_copy"] = len(copies)
    paths = write_report(out, results, summary, time.perf_counter() - t0, fingerprint=fp)
    return CompareResult(results=results, summary=summary, markdown=paths.markdown,
                         html=paths.html)


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
            names += [schema.SOFT_LABEL] if schema.SOFT_LABEL in view.get_field_schema() else []
            cols = view.values(names)
            rows += [(name, *r) for r in sorted(zip(*cols, strict=True))]
    settings = {"variants": [(n, s.describe()) for n, s in cfg.variants],
                "backbones": list(cfg.backbones), "seeds": cfg.seeds, "train": cfg.base.to_dict()}
    return runs.fingerprint(settings, rows)


def test_with_train_copy(loaded: dict[str, ImageSet]) -> set[str]:
    """Keys of the test images that are pixel-identical (as loaded) to a train or val image of
    any variant: FER-2013's train/test leakage. A model can score them by memory, so a variant
    that removed the leaked copies from train is also scored on the test without them."""
    from curate.core.hashing import pixel_digest

    out: set[str] = set()
    for d in loaded.values():
        seen = {pixel_digest(img) for img in d.images[d.splits != "test"]}
        test = d.split("test")
        out |= {Path(k).name for k, img in zip(test.ids, test.images, strict=True)
                if pixel_digest(img) in seen}
    return out


def rescore(probs_path: Path, test: ImageSet, drop: set[str]) -> Metrics | None:
    """The run's test metrics without the `drop` keys (None: no saved probabilities)."""
    saved = load_probs(probs_path)
    if saved is None:
        return None
    keys, probs = saved
    if keys != [Path(k).name for k in test.ids]:
        log.warning("%s: saved test predictions do not match the test split; not re-scored",
                    probs_path)
        return None
    keep = np.array([k not in drop for k in keys])
    return evaluate(probs[keep], test.labels[keep], test.classes) if keep.any() else None


# (label, result key, metric) of each variant-vs-baseline verdict, in report order.
VERDICTS = (("macro_f1", "test", "macro_f1"), ("accuracy", "test", "accuracy"),
            ("macro_f1 (test without train copies)", "test_without_train_copies", "macro_f1"))


def summarise(results: list[dict], variants: list[str],
              backbones: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Mean ± std per (backbone, variant) and the noise verdict of each variant vs the first."""
    table, verdicts = [], []
    for bb in backbones:
        per = {v: [r for r in results if r["backbone"] == bb and r["variant"] == v]
               for v in variants}
        table += [_table_row(bb, v, rs) for v, rs in per.items()]
        base = variants[0]
        for v in variants[1:]:
            for label, key, m in VERDICTS:
                if not all(r.get(key) for r in per[base] + per[v]):
                    continue  # runs from before test predictions were saved
                verdict = noise_verdict([r[key][m] for r in per[base]],
                                        [r[key][m] for r in per[v]])
                verdicts.append({"backbone": bb, "metric": label, "baseline": base, "variant": v,
                                 **asdict(verdict)})
    return {"table": table, "verdicts": verdicts}


def _table_row(backbone: str, variant: str, rs: list[dict]) -> dict[str, Any]:
    """The mean ± std row of one (backbone, variant) over its seeds."""
    row: dict[str, Any] = {"backbone": backbone, "variant": variant, "seeds": len(rs)}
    for m in ("accuracy", "macro_f1", "ece"):
        row[m] = _mean_std([r["test"][m] for r in rs])
    sub = [r.get("test_without_train_copies") for r in rs]
    if all(sub):
        for m in ("accuracy", "macro_f1"):
            row[f"{m}_without_train_copies"] = _mean_std([s[m] for s in sub])
    row["train_seconds"] = float(np.mean([r["cost"]["train_seconds"] for r in rs]))
    return row


def _mean_std(vals: list[float]) -> tuple[float, float]:
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
