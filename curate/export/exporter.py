"""`curate export`: write the `raw` or `curated` view in a format trainers read, atomically,
with `manifest.csv` and `CARD.md` inside the output folder.

Everything is written to a temporary folder beside the output, which is renamed into place at
the end: an interrupted export leaves no partial output (a folder swap: `atomic_path` is for
single files). Names are stable
(`<split>/<class>/<source>_<source_id>.png`) and rows sorted, so the same dataset state gives
the same files.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.core import runs, schema, store
from curate.core.errors import InputError
from curate.core.options import option
from curate.core.schema import (
    CROWD_ROLE,
    FERPLUS_VOTES,
    PARENT,
    SOFT_LABEL,
    TRANSFORMS,
    encode_soft,
    encode_votes,
)
from curate.core.views import VIEWS, ViewSpec, get_view, raw_view
from curate.core.workspace import Workspace
from curate.export import card, formats
from curate.export.formats import Row

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ExportConfig:
    """The `curate export` options (each declared once: curate.core.options)."""

    view: str = option(help="Which view to export.", choices=VIEWS, cli_default="curated")
    format: str = option(help="Output format.", choices=lambda: FORMATS,  # noqa: A003
                         cli_default="imagefolder")
    out: Path | None = option(None, help="Output folder (default: "
                              "<workspace>/exports/<dataset>-<view>-<format>).")
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    overwrite: bool = option(False, flags=("--overwrite",), help="Replace an existing output.")
    include_excluded: bool = option(False, flags=("--include-excluded",),
                                    help="Keep excluded samples (curated view).")
    restored: bool = option(True, help="Use restored files when present.")
    curate_test: bool = option(False, flags=("--curate-test",), help="Apply exclusions/"
                               "corrections/restoration to test too.")
    workers: int = option(4, help="Threads copying/converting images.")
    progress: bool = True

    def __post_init__(self) -> None:
        if self.view not in VIEWS:
            raise InputError(f"unknown view {self.view!r}; choose one of {', '.join(VIEWS)}")
        if self.format not in WRITERS:
            raise InputError(f"unknown format {self.format!r}; choose one of {', '.join(WRITERS)}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")

    def out_dir(self) -> Path:
        if self.out is not None:
            return self.out.resolve()
        ws = Workspace.for_dataset(self.dataset, self.workspace)
        return ws.exports / f"{self.dataset}-{self.view}-{self.format}"

    def options(self) -> dict[str, Any]:
        if self.view == "raw":
            return {}
        return {"include_excluded": self.include_excluded, "use_restored": self.restored,
                "curate_test": self.curate_test}


@dataclass
class ExportResult:
    out: Path
    images: int
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    noop: bool = False  # the same rows and settings were already exported to `out`


def collect_rows(ds: Any, spec: ViewSpec) -> list[Row]:
    """One Row per sample of the view, with parents as `<source>/<source_id>`, the soft label
    (`curate apply --soften`; an augmented copy carries its parent's) where the view has one, and
    the sample's own FER+ crowd votes where it has them (so an export scores against the crowd on
    a machine without the dataset: train/scoring.py `crowd_votes`) with their crowd role (votes
    that calibrated the label audit never score)."""
    have = spec.view.get_field_schema()
    names = ["id", spec.filepath_field, spec.label_path, schema.SPLIT, schema.SOURCE,
             schema.SOURCE_ID]
    carried = (PARENT, TRANSFORMS, SOFT_LABEL, FERPLUS_VOTES, CROWD_ROLE)
    extra = [f for f in carried if f in have]
    cols = spec.view.values(names + extra)
    n = len(cols[0])
    col = {f: cols[len(names) + extra.index(f)] if f in extra else [None] * n for f in carried}
    parent, transforms = col[PARENT], col[TRANSFORMS]
    keys = _parent_keys(ds, {p for p in parent if p})
    soft_of = {i: v for i, v in zip(cols[0], col[SOFT_LABEL], strict=True) if v is not None}
    rows = []
    for i in range(n):
        if cols[2][i] is None or cols[3][i] is None:
            continue  # unlabelled or unsplit: not exportable
        t = transforms[i]
        soft = soft_of.get(cols[0][i]) or soft_of.get(parent[i])
        rows.append(Row(id=cols[0][i], src=cols[1][i], label=cols[2][i], split=cols[3][i],
                        source=cols[4][i], source_id=str(cols[5][i]),
                        parents=keys.get(parent[i], parent[i] or ""),
                        transforms=";".join(t) if isinstance(t, list) else (t or ""),
                        soft_label=encode_soft(soft or None),
                        ferplus_votes=encode_votes(col[FERPLUS_VOTES][i]),
                        crowd_role=col[CROWD_ROLE][i] or ""))
    return formats.name_rows(rows)


def _parent_keys(ds: Any, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    keys = sorted(ids)
    got = store.values_by_id(ds, keys, [schema.SOURCE, schema.SOURCE_ID])
    return {i: f"{s}/{sid}" for i, s, sid in zip(keys, *got, strict=True) if s is not None}


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; pass --overwrite to replace it or choose "
                         "another --out")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder; remove it or choose another --out")
    if out in (Path("/"), Path.home()):
        raise InputError(f"refusing to export into {out}; choose a dedicated folder")


def _finalize(tmp: Path, out: Path) -> None:
    """Move the finished temp folder into place; an old output is replaced only now.

    A folder cannot be swapped by `os.replace` onto an existing one, hence the two renames (the
    old output moves aside first) instead of `atomic_path`, which is for single files."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


Writer = Callable[["ExportConfig", ViewSpec, list[Row], Path], formats.WriteResult]


def _imagefolder(cfg: ExportConfig, spec: ViewSpec, rows: list[Row],
                 tmp: Path) -> formats.WriteResult:
    return formats.write_imagefolder(rows, tmp, cfg.workers, cfg.progress)


def _hf(cfg: ExportConfig, spec: ViewSpec, rows: list[Row], tmp: Path) -> formats.WriteResult:
    return formats.write_hf(rows, tmp, cfg.workers, cfg.progress)


def _fer2013_csv(cfg: ExportConfig, spec: ViewSpec, rows: list[Row],
                 tmp: Path) -> formats.WriteResult:
    return formats.write_fer2013_csv(rows, tmp, cfg.workers, cfg.progress)


def _fiftyone(cfg: ExportConfig, spec: ViewSpec, rows: list[Row],
              tmp: Path) -> formats.WriteResult:
    return formats.write_fiftyone(rows, tmp, spec.view, cfg.workers, cfg.progress)


# --format name -> writer: the registry of export formats (the CLI's choices).
WRITERS: dict[str, Writer] = {"imagefolder": _imagefolder, "fer2013-csv": _fer2013_csv,
                              "fiftyone": _fiftyone, "hf": _hf}
FORMATS = tuple(WRITERS)
FIFTYONE = "fiftyone"  # FiftyOne's exporter creates its folder itself (and warns if it exists)


def export(cfg: ExportConfig, ds: Any | None = None) -> ExportResult:
    """Export one view; returns where, how many images, and what failed."""
    t0 = time.perf_counter()
    out = cfg.out_dir()
    ds = ds if ds is not None else store.load_dataset(cfg.dataset)
    spec = get_view(ds, cfg.view, **cfg.options())
    rows = collect_rows(ds, spec)
    if not rows:
        raise InputError(f"view {cfg.view!r} of dataset {ds.name!r} is empty: nothing to export "
                         "(run `curate ingest ...`, or check exclusions with `curate status`)")
    fp = _fingerprint(cfg, ds, rows)
    done = _already_exported(ds, out, fp)
    if done is not None:
        return done
    _check_out(out, cfg.overwrite)
    res = _write_atomically(cfg, ds, spec, rows, out)
    result = ExportResult(out, len(res.rows), dict(Counter(r.split for r in res.rows)),
                          res.failures, round(time.perf_counter() - t0, 3))
    config = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}
    store.record_run(ds, runs.EXPORT, {"config": {**config, "out": str(out)}, "fingerprint": fp,
                                    "images": result.images, "counts": result.counts,
                                    "failures": len(res.failures), "seconds": result.seconds})
    return result


def _write_atomically(cfg: ExportConfig, ds: Any, spec: ViewSpec, rows: list[Row],
                      out: Path) -> formats.WriteResult:
    """Images, manifest.csv and CARD.md into a temp folder beside `out`, then swapped in."""
    tmp = out.with_name(f".{out.name}.incomplete-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    except OSError as e:
        raise InputError(f"--out {out}: cannot write there ({e.strerror or e})") from None
    if cfg.format == FIFTYONE:
        tmp.rmdir()  # FiftyOne's exporter makes its folder itself
    try:
        res = WRITERS[cfg.format](cfg, spec, rows, tmp)
        if not res.rows:
            raise InputError(f"none of the {len(rows)} images of view {cfg.view!r} could be "
                             f"read (first: {res.failures[0][0]}: {res.failures[0][1]})")
        formats.write_manifest(res.rows, tmp)
        _write_card(cfg, ds, res, tmp)
        _finalize(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return res


def _fingerprint(cfg: ExportConfig, ds: Any, rows: list[Row]) -> str:
    """The export's inputs: format and view options, every row, and what CARD.md reports."""
    settings = {"view": cfg.view, "format": cfg.format, **cfg.options(),
                "runs": card.stable_runs(ds.info.get("runs") or {})}
    return runs.fingerprint(settings, ((r.src, r.label, r.split, r.source, r.source_id,
                                        r.parents, r.transforms, r.soft_label, r.ferplus_votes,
                                        r.crowd_role)
                                       for r in rows))


def _already_exported(ds: Any, out: Path, fp: str) -> ExportResult | None:
    """The last export to `out` with the same fingerprint, when its files are still there."""
    history = runs.history(ds).get(runs.EXPORT, [])
    last = next((h for h in reversed(history) if h.get("config", {}).get("out") == str(out)), None)
    if not last or last.get("fingerprint") != fp or not (out / "manifest.csv").is_file():
        return None
    log.info("%s is up to date with the dataset; nothing to export", out)
    return ExportResult(out, last.get("images", 0), last.get("counts", {}), [], 0.0, noop=True)


def _write_card(cfg: ExportConfig, ds: Any, res: formats.WriteResult, tmp: Path) -> None:
    raw = raw_view(ds)
    before = Counter(zip(*raw.view.values([schema.SPLIT, raw.label_path]), strict=True))
    parents_sources = {p.split("/", 1)[0] for r in res.rows for p in [r.parents] if p}
    text = card.render(dataset=ds.name, view=cfg.view, fmt=cfg.format,
                       options={"view_options": cfg.options(), "format": cfg.format},
                       before=before, rows=res.rows, failures=res.failures,
                       runs=ds.info.get("runs") or {}, versions=runs.package_versions(),
                       sources={r.source for r in res.rows} | parents_sources)
    (tmp / "CARD.md").write_text(text, encoding="utf-8")  # inside the folder swapped in whole
