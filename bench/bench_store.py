"""Benchmark: the database side of a stage on each store, same run, alternated.

    .venv/bin/python bench/bench_store.py [--rows 142636] [--reps 3]

What a stage asks of the store, without the image work around it, through the project's own
write path: `store.add_records` of `--rows` FER-style samples in ingest's chunks, as ingest
inserts them, then `store.set_fields` of one float field on all of them, as clean writes its
scores; then the dataset is deleted. Each store runs it in its own child process
(FIFTYONE_DATABASE_URI is read at import; the child's imports are not timed):

- embedded: FiftyOne's own mongod (the default store; shared with this machine's other datasets);
- server: `scripts/mongo-server.sh start` on a free port and a temp folder (standalone);
- replset: the same script with MONGO_REPLSET=rs0 (a one-node replica set: every write also goes
  to the oplog, and the default write concern waits for the journal).

The stores take turns, the order reversed every round, with `sync` before each run (a run's
dirty pages are not billed to the next). Printed: seconds per round, the median, and the ratio
to the embedded store's median (issue 19's target: the server within 10%).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_scale import ROOT, Server  # a mongod through scripts/mongo-server.sh, free port


def child(rows: int) -> None:
    sys.path.insert(0, str(ROOT))
    from curate.core import store
    from curate.core.taxonomy import CLASSES
    from curate.ingest.base import CHUNK

    ds = store.load_dataset(f"bench_store_{uuid.uuid4().hex[:8]}", create=True)
    records = [store.SampleRecord(
        filepath=f"/nonexistent/media/fer2013/{i:07d}.png", source="fer2013",
        source_id=str(i), split="train", label=CLASSES[i % 7], orig_label=CLASSES[i % 7],
        width=48, height=48, channels=1, size_bytes=1800) for i in range(rows)]
    try:
        t0 = time.perf_counter()
        for i in range(0, rows, CHUNK):  # as ingest commits, a chunk at a time
            store.add_records(ds, records[i:i + CHUNK])
        t1 = time.perf_counter()
        ids = ds.values("id")
        ds.add_sample_field("score", store.fo().FloatField)
        store.set_fields(ds, ids, {"score": [i / rows for i in range(rows)]})
        t2 = time.perf_counter()
    finally:
        ds.delete()
    print(json.dumps({"insert": t1 - t0, "update": t2 - t1}))


def run(env: dict, rows: int) -> dict:
    os.sync()
    time.sleep(2)
    out = subprocess.run([sys.executable, __file__, "--child", str(rows)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=142_636, help="samples (default: FER-2013 x 4)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        return child(a.child)
    base = {k: v for k, v in os.environ.items() if k != "FIFTYONE_DATABASE_URI"}
    base |= {"FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_SHOW_PROGRESS_BARS": "false",
             "PYTHON": sys.executable}
    tmp = Path(tempfile.mkdtemp(prefix="bench_store_"))
    servers = {"server": Server(tmp / "server"),
               "replset": Server(tmp / "replset", MONGO_REPLSET="rs0")}
    envs = {"embedded": base}
    try:
        for name, server in servers.items():
            envs[name] = {**base, "FIFTYONE_DATABASE_URI": server.start()[0]}
        times: dict[str, list[dict]] = {k: [] for k in envs}
        print(f"{a.rows:,} samples, {a.reps} rounds, cpus {os.cpu_count()}, load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
        for r in range(a.reps):
            order = list(envs) if r % 2 == 0 else list(reversed(envs))
            for name in order:
                t = run(envs[name], a.rows)
                times[name].append(t)
                print(f"  round {r + 1} {name:<9} insert {t['insert']:6.1f} s  "
                      f"set_fields {t['update']:6.1f} s", flush=True)
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    med = {k: {p: statistics.median(t[p] for t in v) for p in ("insert", "update")}
           for k, v in times.items()}
    ref = sum(med["embedded"].values())
    print("\n| store | insert s | set_fields s | total s | vs embedded |")
    print("|---|---:|---:|---:|---:|")
    for k, m in med.items():
        total = sum(m.values())
        print(f"| {k} | {m['insert']:.1f} | {m['update']:.1f} | {total:.1f} | {total / ref:.2f}x |")
    print(f"\nmedians of {a.reps} alternated rounds; target: server within 10% of embedded; load "
          f"{os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
