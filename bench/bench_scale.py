"""Benchmark: how each stage grows with the dataset, on FER-2013 replicated to 35k .. 1M rows.

    .venv/bin/python bench/bench_scale.py [--sizes 35k,140k,560k,1m] [--store embedded|server|both]
        [--stages ingest,duplicates,quality,knn,export] [--out bench/results/scale.json] [--keep]

The synthetic CSV (FER-2013's format: emotion,pixels,Usage) holds whole copies of the shared
FER-2013 (35,659 rows): a size is rounded to whole copies (35k = 1 copy, the real file's rows;
140k = 4; 560k = 16; 1m = 28 = 998,452 rows), so every face, label and split is equally
represented at every size. Copy 0 is FER-2013 as is; copy c >= 1 moves 8 seeded random pixels of
each row by +-1..2 gray levels (clipped), so its pixel digests differ (no exact duplicates of the
original), while ~98% of its pHashes stay those of the original: every face has c near copies.
It is streamed to a gzip file in a temp folder, never held whole in memory.

Each stage runs in its own child process through the project's library functions, on one fresh
dataset per size and store: ingest = `curate.ingest.ingest` (source fer2013); duplicates and
quality = `curate.clean.clean` with `checks` = that one check (quality with --fast, the main
job's CPU profile, unless --no-fast); knn = `curate.clean.knn.neighbours(x, k=10)` as clean
calls it (exact cleanlab graph up to knn.EXACT_MAX rows, faiss HNSW above) on features that
are a fixed random projection (seeded Gaussian, 2304 -> 512, float32) of the centred pixels read
from the store's files (no model is trained on a fresh set; the projection keeps distances,
Johnson-Lindenstrauss); export = `curate.export.exporter.export` of the raw view as imagefolder.

Timed: the library call only (not the child's imports), after a `sync` (a stage's file writes
are not billed to the next); with both stores, the order alternates by size. Memory: the child's own peak RSS
(getrusage), its workers' largest peak, and the peak of the summed RSS of the child's process
tree sampled every 0.25 s; the database server's RSS is a separate process (the embedded mongod
FiftyOne starts, which other users of the machine may share, or the `--store server` mongod of
scripts/mongo-server.sh), sampled likewise and reported on its own. Fitted per stage: the slope
of log(time) vs log(n) by least squares, next to 1 (linear) and the n log n slope over the same
sizes. Progress goes to stderr; the table (Markdown) to stdout and to --out (.json and .md).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")

DEFAULT_CSV = ROOT.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"
FER_ROWS = 35_659  # the shared fer2013.csv.gz's rows (Kaggle's 35,887 less the shared file's drops)
ONE_M = 28 * FER_ROWS  # "1m": 28 copies, 998,452 rows
STAGES = ("ingest", "duplicates", "quality", "knn", "export")
JITTER_PIXELS, FEATURE_DIMS, SEED = 8, 512, 0
INGEST_RATE_AT, INGEST_RATE_MIN = 560_000, 2000.0  # targets of issue 19
MEMORY_AT, MEMORY_MAX_MB = ONE_M, 8 * 1024  # "at 1M": the 1m size
STORE_TOLERANCE, GROWTH_SLACK = 0.10, 0.05  # slope allowance for timing noise on a shared CPU


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def copies_for(token: str, base: int) -> int:
    """'35k', '1m', '140000' -> whole copies of the `base` rows (at least 1)."""
    t = token.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    n = float(t[:-1] if mult > 1 else t) * mult
    return max(1, round(n / base))


# --- the synthetic CSV -----------------------------------------------------------------------

def read_fer(path: Path) -> tuple[list[bytes], list[bytes], np.ndarray]:
    """emotions, usages and pixels (n, 2304) uint8 of the source CSV."""
    import csv
    import io

    from curate.ingest.fer2013 import decode_pixels

    emotions, usages, rows = [], [], []
    with io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        ie, ip, iu = header.index("emotion"), header.index("pixels"), header.index("usage")
        for r in reader:
            emotions.append(r[ie].encode())
            usages.append(r[iu].encode())
            rows.append(decode_pixels(r[ip]).reshape(-1))  # ingest's parser and checks
    return emotions, usages, np.stack(rows)


def jittered(pixels: np.ndarray, copy: int) -> np.ndarray:
    """Copy `copy` of the pixels: 0 as is, else 8 random pixels per row +-1..2 (clipped)."""
    if copy == 0:
        return pixels
    rng = np.random.default_rng([SEED, copy])
    out = pixels.astype(np.int16)
    pos = rng.integers(0, pixels.shape[1], (len(pixels), JITTER_PIXELS))
    delta = rng.choice(np.array([-2, -1, 1, 2], np.int16), (len(pixels), JITTER_PIXELS))
    np.add.at(out, (np.arange(len(pixels))[:, None], pos), delta)
    return np.clip(out, 0, 255).astype(np.uint8)


def make_csv(src: tuple[list[bytes], list[bytes], np.ndarray], copies: int, out: Path) -> None:
    emotions, usages, pixels = src
    lut = [str(i).encode() for i in range(256)]
    with gzip.open(out, "wb", compresslevel=1) as fh:
        fh.write(b"emotion,pixels,Usage\n")
        for c in range(copies):
            px = jittered(pixels, c)
            lines = [b"%s,%s,%s\n" % (e, b" ".join([lut[v] for v in row]), u)
                     for e, u, row in zip(emotions, usages, px.tolist())]
            fh.write(b"".join(lines))


# --- one stage, in a child process -----------------------------------------------------------

def _features(ds_name: str) -> tuple[np.ndarray, dict]:
    """The random-projection features of every sample's pixels, as read from the store."""
    from curate.clean import CleanConfig, open_view
    from curate.clean.pixels import load_pixels
    from curate.core import schema

    _, view = open_view(CleanConfig(dataset=ds_name, checks=("duplicates",)))
    ids, paths = view.values(["id", schema.FILEPATH])
    proj = np.random.default_rng(SEED).normal(size=(48 * 48, FEATURE_DIMS)).astype(np.float32)
    proj /= np.sqrt(FEATURE_DIMS)
    x = np.empty((len(ids), FEATURE_DIMS), np.float32)
    read_s = project_s = 0.0
    for s in range(0, len(x), 65536):  # a chunk at a time: only the features are held whole
        t0 = time.perf_counter()
        px = load_pixels(ids[s:s + 65536], paths[s:s + 65536], workers=2)
        t1 = time.perf_counter()
        batch = np.stack([im.reshape(-1) for im in px.images]).astype(np.float32)
        x[s:s + len(batch)] = (batch / 255.0 - 0.5) @ proj
        read_s, project_s = read_s + t1 - t0, project_s + time.perf_counter() - t1
    return x, {"read_s": round(read_s, 1), "project_s": round(project_s, 1)}


def run_child(spec: dict) -> dict:
    """Run one stage (spec: stage, dataset, csv, ws, out, fast) and return its measures."""
    stage, name, ws = spec["stage"], spec["dataset"], Path(spec["ws"])
    detail: dict = {}
    if stage == "ingest":
        from curate.ingest import IngestConfig, ingest

        t0 = time.perf_counter()
        report, _ = ingest(IngestConfig(source="fer2013", path=Path(spec["csv"]), dataset=name,
                                        workspace=ws, progress=False))
        seconds = time.perf_counter() - t0
        detail = {"added": report.added, "skipped": len(report.skipped)}
    elif stage in ("duplicates", "quality"):
        from curate.clean import CleanConfig, clean

        t0 = time.perf_counter()
        res = clean(CleanConfig(dataset=name, workspace=ws, checks=(stage,), progress=False,
                                fast=spec["fast"]))
        seconds = time.perf_counter() - t0
        detail = {k: v for k, v in res.ran[stage].tagged.items()}
        if stage == "duplicates":
            from curate.core import schema, store

            stats = res.ran[stage].stats
            detail.update(near_groups=stats["near_groups"], exact_groups=stats["exact_groups"],
                          distinct_phash=len(store.load_dataset(name).distinct(schema.PHASH)))
    elif stage == "knn":
        from curate.clean import features, knn

        x, detail = _features(name)
        t0 = time.perf_counter()
        _, idx, _ = knn.neighbours(x, features.K)
        seconds = time.perf_counter() - t0
        detail.update(method="exact" if len(x) <= knn.EXACT_MAX else "hnsw", rows=len(idx))
    elif stage == "export":
        from curate.export.exporter import ExportConfig, export

        out = Path(spec["out"])
        t0 = time.perf_counter()
        res = export(ExportConfig(view="raw", format="imagefolder", out=out, dataset=name,
                                  progress=False))
        seconds = time.perf_counter() - t0
        detail = {"images": res.images, "failures": len(res.failures)}
        shutil.rmtree(out, ignore_errors=True)
    elif stage == "drop":
        from curate.core import store

        seconds = 0.0
        if store.fo().dataset_exists(name):
            store.fo().delete_dataset(name)
    else:
        raise SystemExit(f"unknown stage {stage!r}")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": round(seconds, 2), "rss_mb": round(own), "workers_rss_mb": round(kids),
            "detail": detail}


# --- the parent: children, memory sampling, stores -------------------------------------------

def _tree_rss(pid: int) -> int:
    import psutil

    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for q in procs:
        try:
            total += q.memory_info().rss
        except psutil.Error:
            pass
    return total


def _rss(pid: int | None) -> int:
    import psutil

    try:
        return psutil.Process(pid).memory_info().rss if pid else 0
    except psutil.Error:
        return 0


def run_stage(spec: dict, env: dict, mongod_pid: int | None, logfile: Path) -> dict:
    """One child process for one stage; its result plus sampled peaks of its tree and mongod."""
    result_path = logfile.with_suffix(".json")
    os.sync()  # the previous stage's dirty pages are written now, not billed to this one
    cmd = [sys.executable, __file__, "--child", json.dumps({**spec, "result": str(result_path)})]
    peaks = {"tree": 0, "mongod": 0}
    with logfile.open("w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=err, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peaks["tree"] = max(peaks["tree"], _tree_rss(proc.pid))
                peaks["mongod"] = max(peaks["mongod"], _rss(mongod_pid))
                done.wait(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        done.set()
        sampler.join()
    if rc != 0 or not result_path.exists():
        tail = logfile.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"stage {spec['stage']} failed (rc {rc}):\n{tail}")
    res = json.loads(result_path.read_text())
    return {**res, "tree_peak_mb": round(peaks["tree"] / 2**20),
            "mongod_peak_mb": round(peaks["mongod"] / 2**20)}


def embedded_mongod() -> int | None:
    """Connect this process to FiftyOne's embedded mongod (keeping it up between the children)
    and return its pid."""
    import fiftyone as fo
    import fiftyone.core.odm.database as fodb
    import psutil

    fodb.get_db_client()
    for p in psutil.process_iter(["name", "cmdline"]):
        if p.info["name"] == "mongod" and fo.config.database_dir in (p.info["cmdline"] or []):
            return p.pid
    return None


class Server:
    """A real mongod on a free port through scripts/mongo-server.sh, in a temp folder."""

    def __init__(self, root: Path, **env: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = {**os.environ, "MONGO_DIR": str(root / "mongo"), "MONGO_PORT": str(self.port),
                    "PYTHON": sys.executable, **env}  # env: e.g. MONGO_REPLSET
        self.dir = root / "mongo"

    def start(self) -> tuple[str, int | None]:
        out = subprocess.run(["bash", str(ROOT / "scripts" / "mongo-server.sh"), "start"],
                             env=self.env, check=True, capture_output=True, text=True).stdout
        uri = next(line.split("=", 1)[1].strip("'") for line in out.splitlines()
                   if line.startswith("export FIFTYONE_DATABASE_URI="))
        return uri, int((self.dir / "mongod.pid").read_text())

    def stop(self) -> None:
        subprocess.run(["bash", str(ROOT / "scripts" / "mongo-server.sh"), "stop"], env=self.env,
                       check=False, capture_output=True)


# --- fits, targets, table --------------------------------------------------------------------

def slope(ns: list[int], ys: list[float]) -> float | None:
    if len(ns) < 2 or min(ys) <= 0:
        return None
    return float(np.polyfit(np.log(ns), np.log(ys), 1)[0])


def fits(runs: list[dict], stages: list[str], stores: list[str]) -> list[dict]:
    out = []
    for store in stores:
        for stage in stages:
            rs = sorted((r for r in runs if r["store"] == store and r["stage"] == stage),
                        key=lambda r: r["rows"])
            ns = [r["rows"] for r in rs]
            s = slope(ns, [r["seconds"] for r in rs])
            ref = slope(ns, [n * math.log(n) for n in ns])
            verdict = "n/a (1 size)" if s is None else (
                "PASS" if s <= ref + GROWTH_SLACK else "FAIL")
            est = None if s is None else rs[-1]["seconds"] * (ONE_M / ns[-1]) ** max(s, 0.0)
            mem_est = None  # peak = fixed start-up + per-row cost: a straight line, not a power
            if len(ns) >= 2:
                per_row, fixed = np.polyfit(ns, [r["tree_peak_mb"] for r in rs], 1)
                mem_est = float(fixed + per_row * ONE_M)
            out.append({"store": store, "stage": stage, "sizes": ns, "slope": s, "nlogn": ref,
                        "verdict": verdict, "est_1m_s": est, "est_1m_peak_mb": mem_est})
    return out


def targets(runs: list[dict], fitted: list[dict]) -> list[tuple[str, str, str]]:
    rows = []
    bad = [f"{f['stage']} ({f['store']}) {f['slope']:.2f}" for f in fitted if f["verdict"] == "FAIL"]
    some = [f for f in fitted if f["slope"] is not None]
    rows.append(("no stage grows faster than n log n",
                 "; ".join(f"{f['stage']}/{f['store']} {f['slope']:.2f}" for f in some) or "-",
                 "not run" if not some else ("FAIL: " + ", ".join(bad) if bad else "PASS")))
    ing = [r for r in runs if r["stage"] == "ingest" and r["rows"] >= INGEST_RATE_AT]
    rate = min((r["rows"] / r["seconds"] for r in ing), default=None)
    rows.append((f"ingest >= {INGEST_RATE_MIN:,.0f} samples/s at 560k",
                 "-" if rate is None else f"{rate:,.0f}/s",
                 "not run" if rate is None else ("PASS" if rate >= INGEST_RATE_MIN else "FAIL")))
    big = [r for r in runs if r["rows"] >= MEMORY_AT]
    peak = max((r["tree_peak_mb"] for r in big), default=None)
    est = max((f["est_1m_peak_mb"] or 0 for f in fitted), default=0)
    rows.append(("peak memory < 8 GB at 1M (python tree)",
                 f"{peak:,} MB" if peak is not None else f"est. {est:,.0f} MB (extrapolated)",
                 ("PASS" if peak < MEMORY_MAX_MB else "FAIL") if peak is not None else "not run"))
    pairs = {}
    for r in runs:
        pairs.setdefault((r["stage"], r["rows"]), {})[r["store"]] = r["seconds"]
    ratios = [(k, v["server"] / v["embedded"]) for k, v in sorted(pairs.items())
              if "server" in v and "embedded" in v and v["embedded"] > 0]
    off = [f"{s}@{n:,} {q:.2f}" for (s, n), q in ratios if abs(q - 1) > STORE_TOLERANCE]
    rows.append(("embedded and server store within 10%",
                 "; ".join(f"{s}@{n:,} {q:.2f}" for (s, n), q in ratios) or "-",
                 "not run (bench/bench_store.py measures the store's side alone)" if not ratios
                 else ("FAIL: " + ", ".join(off) if off else "PASS")))
    return rows


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def markdown(meta: dict, runs: list[dict], fitted: list[dict], goals: list) -> str:
    lines = [f"Scale benchmark: {meta['cpus']} cores, {meta['mem_gb']:.0f} GiB RAM, load "
             f"{meta['load_start']} at start / {meta['load_end']} at end (shared CPU), "
             f"quality fast={meta['fast']}", "",
             "| rows | store | stage | wall s | rows/s | child peak MB | workers MB | "
             "tree peak MB | mongod peak MB | detail |", "|" + "---:|" * 9 + "---|"]
    for r in runs:
        d = ", ".join(f"{k} {v}" for k, v in r["detail"].items())
        lines.append(f"| {r['rows']:,} | {r['store']} | {r['stage']} | {r['seconds']:.1f} | "
                     f"{r['rows'] / max(r['seconds'], 1e-9):,.0f} | {r['rss_mb']:,} | "
                     f"{r['workers_rss_mb']:,} | {r['tree_peak_mb']:,} | "
                     f"{r['mongod_peak_mb']:,} | {d} |")
    lines += ["", "| stage | store | sizes | fitted exponent | linear | n log n | growth | "
              "est. 1M s | est. 1M peak MB |", "|---|---|---|---:|---:|---:|---|---:|---:|"]
    for f in fitted:
        lines.append(f"| {f['stage']} | {f['store']} | {len(f['sizes'])} | {_f(f['slope'])} | "
                     f"1.00 | {_f(f['nlogn'])} | {f['verdict']} | "
                     f"{_f(f['est_1m_s'], '{:,.0f}')} | {_f(f['est_1m_peak_mb'], '{:,.0f}')} |")
    lines += ["", "| target | measured | verdict |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in goals]
    return "\n".join(lines) + "\n"


# --- main ------------------------------------------------------------------------------------

def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="the FER-2013 CSV to replicate")
    ap.add_argument("--sizes", default="35k,140k,560k,1m")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--store", choices=("embedded", "server", "both"), default="embedded")
    ap.add_argument("--fast", action=argparse.BooleanOptionalAction, default=True,
                    help="quality: the face detector only where it can change a flag")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "scale.json")
    ap.add_argument("--tmp", type=Path, default=None, help="scratch folder [a temp dir]")
    ap.add_argument("--keep", action="store_true", help="keep the CSVs, media and datasets")
    ap.add_argument("--append", action="store_true",
                    help="add to the runs in --out (a row of the same size, store and stage is "
                         "replaced): run the sizes in several sittings, fit them together")
    return ap.parse_args()


def run_size(copies: int, src: tuple, args: argparse.Namespace, stores: dict, tmp: Path,
             stages: list[str], flip: bool = False) -> list[dict]:
    rows = copies * len(src[0])
    csv_path = tmp / f"fer2013x{copies}.csv.gz"
    t0 = time.perf_counter()
    make_csv(src, copies, csv_path)
    log(f"{rows:,} rows: CSV written in {time.perf_counter() - t0:.0f} s "
        f"({csv_path.stat().st_size / 2**20:,.0f} MiB)")
    out = []
    order = list(reversed(stores)) if flip else list(stores)  # neither store always first
    for store in order:
        env, pid = stores[store]
        base = tmp / f"{store}-{copies}"
        base.mkdir(exist_ok=True)
        spec = {"dataset": f"scale_{copies}", "csv": str(csv_path), "ws": str(base / "ws"),
                "out": str(base / "export"), "fast": args.fast}
        try:
            for stage in ["ingest", *[s for s in stages if s != "ingest"]]:
                log(f"{rows:,} rows, {store}: {stage} ...")
                res = run_stage({**spec, "stage": stage}, env, pid, base / f"{stage}.log")
                log(f"{rows:,} rows, {store}: {stage} {res['seconds']:.1f} s, tree peak "
                    f"{res['tree_peak_mb']:,} MB, mongod {res['mongod_peak_mb']:,} MB "
                    f"{res['detail']}")
                if stage in stages:
                    out.append({"rows": rows, "store": store, "stage": stage, **res})
        except RuntimeError as e:  # a failed stage: the rest of this store at this size is moot
            log(f"{rows:,} rows, {store}: {e}")
        finally:
            if not args.keep:
                run_stage({**spec, "stage": "drop"}, env, pid, base / "drop.log")
                shutil.rmtree(base, ignore_errors=True)
    if not args.keep:
        csv_path.unlink(missing_ok=True)
    return out


def main() -> None:
    args = parse()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown or not stages:
        raise SystemExit(f"--stages: unknown {unknown}; choose from {', '.join(STAGES)}")
    os.environ["FIFTYONE_DATABASE_NAME"] = f"bench_scale_{uuid.uuid4().hex[:8]}"
    src = read_fer(args.csv)
    sizes = sorted({copies_for(t, len(src[0])) for t in args.sizes.split(",") if t.strip()})
    tmp = args.tmp or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    tmp.mkdir(parents=True, exist_ok=True)
    meta = {"cpus": os.cpu_count(), "load_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "mem_gb": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
            "fast": args.fast, "database": os.environ["FIFTYONE_DATABASE_NAME"],
            "sizes": [c * len(src[0]) for c in sizes], "source": str(args.csv)}
    names = ("embedded", "server") if args.store == "both" else (args.store,)
    server = Server(tmp) if "server" in names else None
    stores: dict[str, tuple[dict, int | None]] = {}
    runs: list[dict] = []
    if args.append and args.out.exists():
        old = json.loads(args.out.read_text())
        runs = old["runs"]
        meta["load_start"] = f"{old['meta']['load_start']} (first sitting); {meta['load_start']}"
    try:
        if "embedded" in names:
            pid = embedded_mongod()
            stores["embedded"] = ({**os.environ}, pid)
            log(f"embedded mongod pid {pid}, database {meta['database']}")
        if server is not None:
            uri, pid = server.start()
            env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_PRIVATE_DATABASE_PORT"}
            stores["server"] = ({**env, "FIFTYONE_DATABASE_URI": uri}, pid)
            log(f"server mongod pid {pid} at {uri}")
        for k, copies in enumerate(sizes):
            new = run_size(copies, src, args, stores, tmp, stages, flip=k % 2 == 1)
            key = {(r["rows"], r["store"], r["stage"]) for r in new}
            runs = sorted([r for r in runs if (r["rows"], r["store"], r["stage"]) not in key] + new,
                          key=lambda r: (r["rows"], r["store"], STAGES.index(r["stage"])))
            save(args.out, meta, runs, stages, sorted({r["store"] for r in runs}))
    finally:
        if server is not None:
            server.stop()
        if "embedded" in stores and not args.keep:
            import fiftyone.core.odm.database as fodb

            fodb.get_db_client().drop_database(meta["database"])
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(save(args.out, meta, runs, stages, sorted({r["store"] for r in runs})))


def save(out: Path, meta: dict, runs: list[dict], stages: list[str], stores: list[str]) -> str:
    """Fit, judge, write out (.json, .md) and return the Markdown (after every size)."""
    meta["load_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    stages = [s for s in STAGES if s in stages or any(r["stage"] == s for r in runs)]
    fitted = fits(runs, stages, stores)
    goals = targets(runs, fitted)
    table = markdown(meta, runs, fitted, goals)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "runs": runs, "fits": fitted, "targets": goals},
                              indent=1))
    out.with_suffix(".md").write_text(table)
    return table


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child_spec = json.loads(sys.argv[2])
        Path(child_spec["result"]).write_text(json.dumps(run_child(child_spec)))
    else:
        main()
