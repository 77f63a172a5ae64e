"""Benchmark of `curate clean`'s duplicate and quality checks on the real FER-2013.

    .venv/bin/python bench/bench_clean.py [fer2013.csv.gz] [--limit N] [--skip-quality]

Uses (or ingests) the dataset `fer` in the database FIFTYONE_DATABASE_NAME (default
bench_clean) with workspace /tmp/bench_clean/ws. Prints one table: hashing images/s of ours
(decode + pixel digest + batched pHash) vs a plain `imagehash.phash(Image.open(p))` loop on the
same files (hashes asserted identical), the exact-duplicate counts vs the dataset README, and
the quality check's time and flag counts.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("FIFTYONE_DATABASE_NAME", "bench_clean")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_CSV = ROOT.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"
WS = Path("/tmp/bench_clean/ws")
EXPECTED = {"exact_groups": 1504, "exact_rows": 3329, "exact_cross_split_groups": 555,
            "exact_conflict_groups": 20}


def _dataset(csv: Path):  # noqa: ANN202
    from curate.core import store

    if not store.fo().dataset_exists("fer") or len(store.load_dataset("fer")) == 0:
        subprocess.run([sys.executable, "-m", "curate.cli", "--dataset", "fer", "--workspace",
                        str(WS), "--no-progress", "ingest", "fer2013", str(csv)], check=True)
    return store.load_dataset("fer")


def _hash_ours(ids, paths):  # noqa: ANN202
    from curate.clean import duplicates
    from curate.clean.pixels import load_pixels
    from curate.core import hashing

    px = load_pixels(ids, paths, phash=True)  # decode + pixel digest + pHash, 2 threads
    return hashing.to_hex(px.phashes), duplicates.exact_groups(px.digests)


def _hash_reference(paths: list[str]) -> list[str]:
    import imagehash
    from PIL import Image

    return [str(imagehash.phash(Image.open(p))) for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv", nargs="?", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--limit", type=int, default=0, help="hash only the first N images")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    import imagehash  # noqa: F401 - imported before timing
    import scipy.fftpack  # noqa: F401

    from curate.clean import CleanConfig, duplicates
    from curate.clean.checks import CheckContext, run_quality
    from curate.core.workspace import Workspace

    ds = _dataset(args.csv)
    ids, paths, splits, labels = ds.values(["id", "filepath", "split", "ground_truth.label"])
    n = args.limit or len(paths)
    rows = []
    t = time.perf_counter()
    ref = _hash_reference(paths[:n])
    t_ref = time.perf_counter() - t
    t = time.perf_counter()
    ours, exact = _hash_ours(ids[:n], paths[:n])
    t_ours = time.perf_counter() - t
    assert ours == ref, f"{sum(a != b for a, b in zip(ours, ref))} hashes differ from imagehash"
    rows.append(("pHash images/s: imagehash loop", f"{n / t_ref:,.0f}", f"{t_ref:.1f} s"))
    rows.append(("pHash images/s: ours (+ pixel digests)", f"{n / t_ours:,.0f}",
                 f"{t_ours:.1f} s"))
    rows.append(("speed-up (identical hashes)", f"{t_ref / t_ours:.1f}x", f"{n} images"))
    f = duplicates.group_flags(exact, splits[:n], labels[:n])
    got = {"exact_groups": f.groups, "exact_rows": int(f.duplicate.sum()),
           "exact_cross_split_groups": f.leak_groups, "exact_conflict_groups": f.conflict_groups}
    for k, v in got.items():
        want = EXPECTED[k] if n == len(paths) else "-"
        rows.append((k, str(v), f"expected {want}"))
    t = time.perf_counter()
    hashes = np.array([int(h, 16) for h in ours], dtype=np.uint64)
    near = duplicates.near_groups(hashes, np.ones(len(hashes), bool), 4)
    rows.append(("near groups (radius 4) / search time", str(int(near.max()) + 1),
                 f"{time.perf_counter() - t:.1f} s"))
    if not args.skip_quality:
        view = ds.select(ids[:n])
        for fast in (True, False):
            cfg = CleanConfig(dataset="fer", workspace=WS, checks=("quality",), fast=fast,
                              progress=False)  # --fast passes down to the quality check
            ctx = CheckContext(ds, view, cfg, Workspace(WS))
            t = time.perf_counter()
            res = run_quality(ctx)
            dt = time.perf_counter() - t
            flagged = ", ".join(f"{k.split(':')[1]} {v}" for k, v in res.tagged.items())
            rows.append((f"quality check{' --fast' if fast else ''}", f"{dt:.1f} s",
                         f"faces {res.stats['faces_checked']}; {flagged}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>12}  note")
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>12}  {r[2]}")


if __name__ == "__main__":
    main()
