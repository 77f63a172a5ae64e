"""Benchmark of clean's nearest neighbours: the faiss HNSW index vs the exact graph (Datalab's)
on the label model's features of FER-2013.

    .venv/bin/python bench/bench_knn.py [--features PATH] [--workspace WS]

PATH: a `features.npz` written by `curate clean --checks labels` (default: the newest under
WS/runs, WS = workspace/fer2013 ... the README main job's workspace/fer). Printed: wall time of
each search for k = 10 and the index's recall of the exact neighbours (target >= 0.99), at the
dataset's size and, to show the growth, at 4x (the features replicated with small jitter).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
K = 10


def main() -> None:
    from curate.clean import knn

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path, default=None)
    ap.add_argument("--workspace", type=Path, default=Path("workspace/fer"))
    ap.add_argument("--scale", type=int, default=4, help="also at this multiple (0: skip)")
    args = ap.parse_args()
    path = args.features or max((args.workspace / "runs").rglob("features.npz"),
                                key=lambda p: p.stat().st_mtime)
    with np.load(path) as z:
        x = z["features"].astype(np.float32)
    sets = [("FER-2013", x)]
    if args.scale > 1:
        rng = np.random.default_rng(0)
        big = np.concatenate([x + 0.01 * x.std() * rng.normal(size=x.shape).astype(np.float32)
                              for _ in range(args.scale)])
        sets.append((f"{args.scale}x jittered", big))
    print(f"features: {path}\n| rows | dims | exact s | index s | speed-up | recall@{K} |")
    print("|---:|---:|---:|---:|---:|---:|")
    for _name, data in sets:
        t0 = time.perf_counter()
        _, exact_idx, _ = knn.neighbours(data, K, method="exact", metric="cosine")
        t_exact = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, index_idx, _ = knn.neighbours(data, K, method="hnsw")
        t_index = time.perf_counter() - t0
        print(f"| {len(data):,} | {data.shape[1]} | {t_exact:.1f} | {t_index:.1f} | "
              f"{t_exact / t_index:.2f}x | {knn.recall(index_idx, exact_idx):.4f} |")


if __name__ == "__main__":
    main()
