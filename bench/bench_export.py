"""Benchmark: `curate export --format imagefolder` of a whole dataset vs FiftyOne's stock
`view.export(dataset_type=fo.types.ImageClassificationDirectoryTree, label_field="ground_truth")`
on the same view, in the same run.

Needs an ingested dataset, e.g. the real FER-2013 in its own database:
    FIFTYONE_DATABASE_NAME=bench_export .venv/bin/curate --dataset fer --workspace /tmp/export/ws \
        ingest fer2013 ../shared/datasets/fer2013/fer2013.csv.gz
    FIFTYONE_DATABASE_NAME=bench_export .venv/bin/python bench/bench_export.py --dataset fer
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("FIFTYONE_DATABASE_NAME", "bench_export")


def _count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*.png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fer")
    ap.add_argument("--view", default="raw", choices=("raw", "curated"))
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None, help="scratch folder [default: a temp dir]")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    from curate.core import store
    from curate.core.schema import LABEL
    from curate.core.views import get_view
    from curate.export.exporter import ExportConfig, export

    ds = store.load_dataset(args.dataset)
    spec = get_view(ds, args.view)
    n = len(spec)
    scratch = args.out or Path(tempfile.mkdtemp(prefix="bench_export_"))
    scratch.mkdir(parents=True, exist_ok=True)
    ours_dir, stock_dir = scratch / "ours", scratch / "stock"
    for d in (ours_dir, stock_dir):
        shutil.rmtree(d, ignore_errors=True)

    t0 = time.perf_counter()
    cfg = ExportConfig(view=args.view, format="imagefolder", out=ours_dir, dataset=args.dataset,
                       workers=args.workers, progress=False)
    res = export(cfg, ds=ds)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    spec.view.export(export_dir=str(stock_dir),
                     dataset_type=store.fo().types.ImageClassificationDirectoryTree,
                     label_field=LABEL)
    t_stock = time.perf_counter() - t0

    table = Table("method", "images", "files", "wall s", "images/s",
                  title=f"imagefolder export of {args.dataset!r} view {args.view!r} ({n} samples)")
    table.add_row("curate export (copy PNG, manifest, CARD.md)", str(res.images),
                  str(_count_files(ours_dir)), f"{t_ours:.1f}", f"{res.images / t_ours:,.0f}")
    table.add_row("FiftyOne ImageClassificationDirectoryTree", str(n),
                  str(_count_files(stock_dir)), f"{t_stock:.1f}", f"{n / t_stock:,.0f}")
    Console().print(table)
    Console().print(f"speed-up: {t_stock / t_ours:.2f}x (stock time / ours); target < 60 s: "
                    f"{'met' if t_ours < 60 else 'NOT met'}")
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
