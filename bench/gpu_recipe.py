"""The GPU recipe's comparison (pipelines/fer2013.toml [compare]: 3 backbones, 30 epochs at
64 px, raw vs curated vs the robust baselines) on a GPU machine that has no FiftyOne and no
copy of the data: DEVELOPERS.md's `device`, or any CUDA box you copy two exports to.

    # here, after the main job exported raw and curated (workspace/fer/exports/):
    .venv/bin/python bench/gpu_recipe.py pack --to .gpu
    # there (its python3 has torch, timm, numpy, pillow, scikit-learn, matplotlib, rich, typer):
    PYTHONPATH=. python3 bench/gpu_recipe.py run --pack .gpu --out $OUT --jobs 14 --budget-s 480

`pack` writes both exports as one file of WebP-lossless images (pixel-identical, each distinct
face once: the curated export's images are the raw export's; 35,659 faces, ~58 MB) plus their
manifests, which carry the FER+ votes the report scores against (`train/scoring.py`).
`run` rebuilds the two export folders, trains every (variant, backbone, seed) of the
comparison exactly as `train compare` would (`train.compare.recipe`, `train.run.run_training`,
same run folders), several runs at once on the one GPU (small models at 64 px leave it mostly
idle), seed 0 of raw and curated first; it starts a run only if the longest finished run of that
backbone would still end inside `--budget-s`, and the report
(`train.compare.compare`, which reuses every finished run) covers the seeds and variants that
finished for every backbone. A re-run with the same pack and `--work` resumes.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing as mp
import os
import shutil
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.core.hashing import pixel_digest  # noqa: E402
from curate.core.imageio import IMAGE_SUFFIXES  # noqa: E402

PACK_INDEX, PACK_BLOBS, PACK_FILES = "index.json.gz", "images.bin", "files.tar.gz"
EXPORTS = Path("workspace/fer/exports")
DEFAULT_EXPORTS = {"raw": EXPORTS / "fer-raw-imagefolder",
                   "curated": EXPORTS / "fer-curated-imagefolder"}
VARIANTS = ("raw", "curated", "raw+smooth", "raw+gce", "raw+scn")  # pipelines/fer2013.toml


def log(msg: str) -> None:
    print(f"[gpu-recipe {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- pack (here) ---------------------------------------------------------------------------------
def _gray(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("L", "RGB", "RGBA"):
            im = im.convert("RGB")
        a = np.asarray(im)
    if a.ndim == 3:
        if not (a[..., 0] == a[..., 1]).all() or not (a[..., 0] == a[..., 2]).all():
            raise SystemExit(f"{path}: a colour image; the pack holds grayscale exports only")
        a = a[..., 0]
    return np.ascontiguousarray(a)


def _webp(a: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="WEBP", lossless=True, quality=100, method=4)
    return buf.getvalue()


def _unwebp(b: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(b)) as im:
        return np.asarray(im.convert("L"))


def pack(exports: dict[str, Path], to: Path) -> None:
    to.mkdir(parents=True, exist_ok=True)
    index: dict = {"exports": {}, "offsets": [0]}
    seen: dict[str, int] = {}
    with open(to / PACK_BLOBS, "wb") as blobs:
        for name, root in exports.items():
            if not (root / "manifest.csv").is_file():
                raise SystemExit(f"{root}: not an export (no manifest.csv); run the main job "
                                 "or give --raw / --curated")
            files, other = [], []
            for p in sorted(root.rglob("*")):
                if not p.is_file():
                    continue
                rel = p.relative_to(root).as_posix()
                if p.suffix.lower() not in IMAGE_SUFFIXES:
                    other.append(rel)
                    continue
                a = _gray(p)
                key = pixel_digest(a)
                if key not in seen:
                    b = _webp(a)
                    if not np.array_equal(_unwebp(b), a):
                        raise SystemExit(f"{p}: WebP lossless did not round-trip")
                    blobs.write(b)
                    seen[key] = len(index["offsets"]) - 1
                    index["offsets"].append(index["offsets"][-1] + len(b))
                files.append([rel, seen[key]])
            with tarfile.open(to / f"{name}-{PACK_FILES}", "w:gz") as tar:  # manifest, card
                for rel in other:
                    tar.add(root / rel, arcname=rel)
            index["exports"][name] = {"files": files}
            log(f"{name}: {len(files)} images, {len(seen)} distinct so far")
    with gzip.open(to / PACK_INDEX, "wt") as fh:
        json.dump(index, fh)
    log(f"packed {len(seen)} distinct images, {(to / PACK_BLOBS).stat().st_size / 1e6:.1f} MB "
        f"-> {to}")


def unpack(src: Path, work: Path) -> dict[str, Path]:
    """The exports again, `<work>/<name>/...`, PNG files with the packed pixels."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    with gzip.open(src / PACK_INDEX, "rt") as fh:
        index = json.load(fh)
    blob = (src / PACK_BLOBS).read_bytes()
    off = index["offsets"]
    out = {}
    for name, ex in index["exports"].items():
        root = work / name
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        with tarfile.open(src / f"{name}-{PACK_FILES}", "r:gz") as tar:
            tar.extractall(root, filter="data")
        for d in {str(Path(rel).parent) for rel, _ in ex["files"]}:
            (root / d).mkdir(parents=True, exist_ok=True)

        def one(item: list, root: Path = root) -> None:
            rel, k = item
            Image.fromarray(_unwebp(blob[off[k]:off[k + 1]])).save(root / rel, format="PNG",
                                                                   compress_level=1)

        with ThreadPoolExecutor(os.cpu_count() or 4) as pool:
            list(pool.map(one, ex["files"]))
        out[name] = root
        log(f"unpacked {name}: {len(ex['files'])} images -> {root}")
    return out


# --- run (there) ---------------------------------------------------------------------------------
_STATE: dict = {}  # the parent's loaded data, shared with forked workers (copy-on-write)


def _one(job: tuple[str, str, int]) -> dict:
    import torch

    from train.compare import recipe
    from train.run import run_training

    name, backbone, seed = job
    torch.set_num_threads(_STATE["threads"])
    cfg, out = _STATE["cfg"], _STATE["out"]
    src = dict(cfg.variants)[name]
    tc = replace(cfg.base, backbone=backbone, seed=seed, **recipe(name))
    t0 = time.perf_counter()
    try:
        r = run_training(src, tc, out / "runs" / f"{name}-{backbone}-s{seed}",
                         data=_STATE["loaded"][name])
    except Exception as e:  # noqa: BLE001 - reported, the other runs go on
        return {"job": job, "error": f"{type(e).__name__}: {e}"}
    return {"job": job, "seconds": round(time.perf_counter() - t0, 1),
            "test_macro_f1": r.test["macro_f1"] if r else None}


def _order(variants: list[str], backbones: tuple[str, ...], seeds: int) -> list:
    """Seed by seed, raw and curated of every backbone before the robust baselines."""
    plain = [v for v in variants if "+" not in v]
    robust = [v for v in variants if "+" in v]
    jobs = [(v, b, s) for s in range(seeds) for b in backbones for v in plain]
    return jobs + [(v, b, s) for s in range(seeds) for b in backbones for v in robust]


def _reports(out: Path, variants: list[str], backbones: tuple[str, ...], seeds: int) -> list:
    """The reports whose every run finished, as (variants, backbones, seeds): the one with the
    most runs of raw and curated, and, where the robust baselines finished for fewer seeds, one
    with every variant that finished for all of its backbones."""
    def leading(v: str, b: str) -> int:
        k = 0
        while k < seeds and (out / "runs" / f"{v}-{b}-s{k}" / "metrics.json").is_file():
            k += 1
        return k

    plain = [v for v in variants if "+" not in v]
    options = []
    for k in range(seeds, 0, -1):
        bbs = tuple(b for b in backbones if all(leading(v, b) >= k for v in plain))
        if bbs:
            vs = plain + [v for v in variants
                          if "+" in v and all(leading(v, b) >= k for b in bbs)]
            options.append((vs, bbs, k))
    if not options:
        return []
    main = max(options, key=lambda o: (len(o[1]) * o[2], len(o[0])))
    wide = max(options, key=lambda o: (len(o[0]), len(o[1]) * o[2]))
    return [main] + ([wide] if len(wide[0]) > len(main[0]) else [])


def run(args: argparse.Namespace) -> int:
    import torch

    from train.compare import CompareSettings, compare
    from train.run import load_source

    t_start = time.perf_counter()
    out = Path(args.out)
    work = Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    import subprocess

    import timm

    # no CUDA call in this process before the runs end: they are forked from it
    smi = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False) \
        if shutil.which("nvidia-smi") else None
    log(f"torch {torch.__version__}, timm {timm.__version__}, {os.cpu_count()} CPUs, "
        f"{smi.stdout.strip() if smi else 'no nvidia-smi'}")
    roots = unpack(Path(args.pack), work)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    spec = ",".join(f"{v}={roots[v.partition('+')[0]]}" for v in variants)
    settings = CompareSettings(variants=spec, profile="gpu", device=args.device,
                               out=work / "compare", score_split=("test", "val"),
                               backbones=tuple(args.backbones.split(",")) if args.backbones
                               else (), seeds=args.seeds, epochs=args.epochs, progress=False)
    cfg = settings.build()
    if args.max_steps:  # a smoke run: the same code paths, a few steps an epoch
        cfg = replace(cfg, base=replace(cfg.base, max_steps_per_epoch=args.max_steps))
    by_source, loaded = {}, {}
    for name, src in cfg.variants:
        key = src.describe()
        if key not in by_source:
            by_source[key] = load_source(src, cfg.base.img_size, cfg.base.in_chans)
        loaded[name] = by_source[key]
    log(f"loaded {', '.join(f'{k}: {len(v)} images' for k, v in by_source.items())}; "
        f"{cfg.base.epochs} epochs at {cfg.base.img_size} px, batch {cfg.base.batch_size}")
    cmp_out = work / "compare"  # the runs (weights too) stay out of --out, which gets 8 files
    _STATE.update(cfg=cfg, out=cmp_out, loaded=loaded,
                  threads=max(1, (os.cpu_count() or 2) // max(1, args.jobs)))
    jobs = _order(variants, cfg.backbones, cfg.seeds)
    deadline = t_start + args.budget_s  # every run ends by then; one is started only if it fits
    took: dict[str, float] = {}  # backbone -> the longest finished run (the estimate)
    done: list[dict] = []
    ctx = mp.get_context("fork")
    pool = ctx.Pool(args.jobs, maxtasksperchild=1)
    pending: dict = {}
    queue = list(jobs)

    def fits(job: tuple[str, str, int]) -> bool:
        est = took.get(job[1], max(took.values(), default=0.0))
        return time.perf_counter() + est < deadline

    try:
        while queue or pending:
            for job in [j for j in queue if fits(j)][:max(0, args.jobs - len(pending))]:
                queue.remove(job)
                pending[job] = pool.apply_async(_one, (job,))
            if queue and not pending:
                log(f"budget: {len(queue)} runs would not finish in time; not started")
                break
            for job, res in list(pending.items()):
                if res.ready():
                    got = res.get()
                    done.append(got)
                    del pending[job]
                    if "seconds" in got:
                        took[job[1]] = max(took.get(job[1], 0.0), got["seconds"])
                    log(f"{'/'.join(map(str, job))}: " + (got.get("error") or
                        f"{got['seconds']} s, test macro-F1 {100 * got['test_macro_f1']:.1f}"))
            if pending and time.perf_counter() > deadline:
                log(f"budget over: {len(pending)} runs stopped unfinished, {len(queue)} not "
                    "started")
                break
            time.sleep(1)
    finally:
        pool.terminate()
        pool.join()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    summary = {"gpu": gpu, "torch": torch.__version__, "timm": timm.__version__,
               "jobs": args.jobs, "runs": done,
               "train_wall_s": round(time.perf_counter() - t_start, 1)}
    summary["reports"] = []
    for n, (vs, bbs, k) in enumerate(_reports(cmp_out, variants, cfg.backbones, cfg.seeds)):
        where = cmp_out if n == 0 else work / "compare-robust"  # the same run folders
        if n:
            where.mkdir(parents=True, exist_ok=True)
            if not (where / "runs").exists():
                (where / "runs").symlink_to((cmp_out / "runs").resolve())
        log(f"report over {', '.join(vs)} x {', '.join(bbs)} x {k} seed(s)")
        res = compare(replace(cfg, variants=tuple((m, s) for m, s in cfg.variants if m in vs),
                              backbones=bbs, seeds=k), where)
        tag = "" if n == 0 else "-robust"
        shutil.copy2(res.markdown, out / f"report{tag}.md")
        shutil.copy2(where / "results.json", out / f"results{tag}.json")
        if n:  # the html reports go into the tar (at most 8 files come back from $OUT)
            shutil.copy2(res.html, cmp_out / f"report{tag}.html")
        summary["reports"].append({"variants": vs, "backbones": list(bbs), "seeds": k,
                                   "file": f"report{tag}.md"})
    if not summary["reports"]:
        log("no backbone finished raw and curated: no report")
    summary["wall_s"] = round(time.perf_counter() - t_start, 1)
    (out / "gpu_recipe.json").write_text(json.dumps(summary, indent=1))
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:  # metrics + predictions, no weights
        for p in sorted(cmp_out.glob("report*.html")) + sorted((cmp_out / "runs").glob("*/*")):
            if p.suffix == ".html" or p.name in ("metrics.json", "config.json", "test_probs.npz",
                                                 "val_probs.npz"):
                tar.add(p, arcname=p.relative_to(cmp_out).as_posix())
    log(f"done in {summary['wall_s']} s")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="both exports into one folder to copy to the GPU machine")
    p.add_argument("--raw", type=Path, default=DEFAULT_EXPORTS["raw"])
    p.add_argument("--curated", type=Path, default=DEFAULT_EXPORTS["curated"])
    p.add_argument("--to", type=Path, default=Path(".gpu"))
    r = sub.add_parser("run", help="on the GPU machine: train the comparison, write the report")
    r.add_argument("--pack", type=Path, default=Path(".gpu"))
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--work", type=Path, default=Path("/tmp/gpu-recipe"))
    r.add_argument("--variants", default=",".join(VARIANTS))
    r.add_argument("--backbones", default="", help="default: the gpu profile's three")
    r.add_argument("--seeds", type=int, default=None)
    r.add_argument("--epochs", type=int, default=None)
    r.add_argument("--device", default="cuda")
    r.add_argument("--jobs", type=int, default=14, help="runs at once on the GPU")
    r.add_argument("--budget-s", type=float, default=480,
                   help="seconds from the start by which training ends (runs stopped then)")
    r.add_argument("--max-steps", type=int, default=None, help="smoke test: steps per epoch")
    a = ap.parse_args()
    if a.cmd == "pack":
        pack({"raw": a.raw, "curated": a.curated}, a.to)
        return 0
    return run(a)


if __name__ == "__main__":
    raise SystemExit(main())
