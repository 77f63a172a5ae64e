"""Benchmark: FER-2013 ingest vs FiftyOne's stock ImageClassificationDirectoryTree import.

    .venv/bin/python bench/bench_ingest.py [path/to/fer2013.csv.gz]

Runs, in one process and one fresh database: (1) `curate ingest fer2013` of the CSV (parse,
validate, write 35.7k PNGs, insert); (2) the same ingest again (no-op), in-process and as a full
CLI call including start-up; (3) FiftyOne's stock importer on the same PNGs laid out as
<class>/<file>.png (hard links). Prints wall times, samples/s, the ratio and peak memory.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ["FIFTYONE_DATABASE_NAME"] = f"bench_ingest_{uuid.uuid4().hex[:8]}"
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"

from curate.core import store  # noqa: E402
from curate.core.schema import FILEPATH, LABEL_PATH  # noqa: E402
from curate.ingest import IngestConfig, ingest  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def peak_mb() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


def main(csv_path: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
    fo = store.fo()
    rows: list[tuple[str, str, str]] = []
    try:
        cfg = IngestConfig(source="fer2013", path=csv_path, dataset="bench",
                           workspace=tmp / "ws", progress=False)
        t0 = time.perf_counter()
        report, _ = ingest(cfg)
        ours = time.perf_counter() - t0
        n = report.added
        own_mb, kid_mb = peak_mb()
        rows.append(("curate ingest fer2013 (CSV -> PNG + samples)", f"{ours:.1f} s", f"{n / ours:,.0f}/s"))

        t0 = time.perf_counter()
        again, _ = ingest(cfg)
        noop = time.perf_counter() - t0
        assert again.added == 0 and again.already_present == n
        rows.append(("no-op re-ingest (in process)", f"{noop:.1f} s", ""))
        env = dict(os.environ)
        t0 = time.perf_counter()
        subprocess.run([str(Path(sys.executable).with_name("curate")), "--dataset", "bench",
                        "--workspace", str(tmp / "ws"), "--no-progress", "ingest", "fer2013",
                        str(csv_path)], check=True, env=env, capture_output=True)
        noop_cli = time.perf_counter() - t0
        rows.append(("no-op re-ingest (CLI, incl. start-up)", f"{noop_cli:.1f} s", ""))

        ds = fo.load_dataset("bench")
        tree = tmp / "tree"
        for path, label in zip(ds.values(FILEPATH), ds.values(LABEL_PATH)):
            dest = tree / label / Path(path).name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, dest)
        t0 = time.perf_counter()
        stock = fo.Dataset.from_dir(dataset_dir=str(tree),
                                    dataset_type=fo.types.ImageClassificationDirectoryTree,
                                    name="bench_stock", progress=False)
        stock_s = time.perf_counter() - t0
        assert len(stock) == n
        rows.append(("stock ImageClassificationDirectoryTree import (PNGs exist)",
                     f"{stock_s:.1f} s", f"{n / stock_s:,.0f}/s"))
        rows.append(("ratio ours / stock (samples/s)", "", f"{stock_s / ours:.2f}x"))
        rows.append(("peak RSS: main process / largest worker", f"{own_mb:,.0f} MB",
                     f"{kid_mb:,.0f} MB"))
    finally:
        for name in ("bench", "bench_stock"):
            if fo.dataset_exists(name):
                fo.delete_dataset(name)
        shutil.rmtree(tmp, ignore_errors=True)
    width = max(len(r[0]) for r in rows)
    print(f"\nFER-2013 ingest benchmark ({n} rows, {os.cpu_count()} cores)\n")
    print(f"{'step'.ljust(width)}  {'wall':>8}  {'rate':>10}")
    for name, wall, rate in rows:
        print(f"{name.ljust(width)}  {wall:>8}  {rate:>10}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
