"""`curate restore`: GFPGAN or classical upsampling over the dataset or a view, resumable, with
an expression-preservation check by the reference classifier.

Outputs: `<workspace>/media/restored/<method>-<size>[-rgb]/<source>/<source_id>.png`, recorded on
each sample as `restored_filepath`, `restore_method`, `restore_weights_sha256`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from curate.core import engine, runs, schema, store
from curate.core.clikit import DEVICE_HELP, pick_device
from curate.core.errors import InputError, ModelError
from curate.core.issues import write_issues
from curate.core.options import option
from curate.core.progress import task
from curate.core.schema import RESTORE_METHOD, RESTORE_WEIGHTS_SHA256, RESTORED_FILEPATH
from curate.core.taxonomy import CLASSES
from curate.core.workspace import Workspace, write_json_atomic
from curate.restore import check, classical, runner
from curate.restore import weights as wts
from curate.restore.check import CheckSummary

log = logging.getLogger(__name__)

MODEL_METHODS = ("gfpgan",)  # need weights (curate.restore.weights)
METHODS = (*MODEL_METHODS, *classical.FILTERS)  # the CLI's --method choices
COLORS = ("gray", "rgb")
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
FIELDS = (RESTORED_FILEPATH, RESTORE_METHOD, RESTORE_WEIGHTS_SHA256)
NO_CHECK = "skipped by request (--no-check)"


@dataclass(frozen=True, kw_only=True)
class RestoreConfig:
    """The `curate restore` options (each declared once: curate.core.options)."""

    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    method: str = option("gfpgan", help="gfpgan (needs weights) or a classical resize.",
                         choices=METHODS)
    size: int = option(224, help="Output side in pixels (48..512; GFPGAN works at 512 and is "
                       "resized to this).")
    color: str = option("gray", help="Output images in grayscale or RGB.", choices=COLORS)
    unsharp: bool = option(False, help="Unsharp mask after a classical resize.")
    weights: Path | None = option(None, help="A local GFPGAN .pth file.")
    model: str = option(wts.DEFAULT_MODEL, help="Registry weights to use from the cache "
                        f"({', '.join(wts.REGISTRY)}).")
    cache_dir: Path | None = option(None, help="Weights cache (default: $FER_CURATE_CACHE/"
                                    "weights or ~/.cache/fer-curate/weights).")
    download: bool = option(False, help="Fetch the official weights into the cache when "
                            "missing.")
    view: str | None = option(None, help="A saved view or tag, e.g. issue:lowinfo (default: the "
                              "whole dataset).")
    split: str | None = option(None, help="Only this split (train/val/test).")
    label: str | None = option(None, flags=("--label", "--class"),
                               help="Only this ground-truth class.")
    batch_size: int | None = option(None, help="Images per batch (default: 4 for gfpgan, 256 "
                                    "classical); halved on GPU OOM.")
    device: str = option("cpu", help=DEVICE_HELP, cli_default="auto", convert=pick_device)
    precision: str = option("auto", help="auto: fp32 on CPU; fp16 on CUDA where safe for the "
                            "model, else bf16.", choices=PRECISIONS)
    check: bool = option(True, help="Compare the reference classifier's predictions on original "
                         "vs restored images (--no-check skips it, recorded as skipped by "
                         "request).")
    workers: int = option(2, help="Threads for the classical path (local engine); actors with "
                          "--engine ray.")
    engine: str = option(engine.LOCAL, help="local: this process; ray: Ray Data actor pools (a "
                         "local cluster, or the one at RAY_ADDRESS; one GPU per actor on CUDA). "
                         "Same outputs (docs/scale.md).", choices=engine.ENGINES)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"--method {self.method!r}: choose one of {', '.join(METHODS)}")
        if not 48 <= self.size <= 512:
            raise InputError(f"--size {self.size}: must be between 48 and 512")
        if self.color not in COLORS:
            raise InputError(f"--color {self.color!r}: choose gray or rgb")
        if self.precision not in PRECISIONS:
            raise InputError(f"--precision {self.precision!r}: choose one of "
                             f"{', '.join(PRECISIONS)}")
        if self.label is not None and self.label not in CLASSES:
            raise InputError(f"--label {self.label!r}: choose one of {', '.join(CLASSES)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        engine.check_engine(self.engine)
        if self.method not in MODEL_METHODS and (self.weights or self.download):
            raise InputError(f"--weights/--download apply to --method gfpgan, not {self.method}")
        if self.unsharp and self.method in MODEL_METHODS:
            raise InputError("--unsharp applies to the classical methods (lanczos, bicubic)")

    @property
    def method_name(self) -> str:
        return f"{self.method}+unsharp" if self.unsharp else self.method

    @property
    def tag(self) -> str:
        """The output folder name: method, size and (when RGB) colour."""
        tag = f"{self.method}{'-unsharp' if self.unsharp else ''}-{self.size}"
        return tag + ("-rgb" if self.color == "rgb" else "")

    @property
    def batch(self) -> int:
        return self.batch_size or (4 if self.method in MODEL_METHODS else 256)

    @property
    def num_gpus(self) -> float:
        """GPUs per Ray actor: one on a CUDA device, none on the CPU."""
        return 1.0 if self.device.startswith("cuda") else 0.0


@dataclass
class RestoreResult:
    """What one `curate restore` did (the CLI prints it, the JSON report holds it)."""

    selected: int = 0
    already_done: int = 0
    restored: int = 0
    skipped: list[runner.Skipped] = field(default_factory=list)
    weights: wts.WeightsFile | None = None  # None: a classical method
    check: CheckSummary = field(default_factory=lambda: CheckSummary(status=""))
    out_dir: str = ""
    seconds: float = 0.0
    batch_size: int | None = None
    unchanged: bool = False
    report: str = ""

    @property
    def noop(self) -> bool:
        return self.unchanged


def output_name(source: str | None, source_id: str | None, sample_id: str) -> str:
    """`<source>/<source_id>.png` (ids made file-safe, with a short hash when that changed them)."""
    key = source_id if source_id else sample_id
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)
    if safe != key or safe.startswith("."):
        safe = f"{safe}-{hashlib.sha1(key.encode()).hexdigest()[:8]}"
    return f"{source or 'unknown'}/{safe}.png"


def select_view(ds: Any, cfg: RestoreConfig) -> Any:
    """The samples to restore: a saved view or tag, then split and class filters, not excluded.

    Real samples only (also within a saved view or tag): augmented images are made from their
    parent's restored file by `curate balance`, and synthetic ones are rendered at the
    dataset's size by `augment synth`.
    """
    view = _named_view(ds, cfg.view).match(schema.real())
    if cfg.split:
        view = view.match({schema.SPLIT: cfg.split})
    if cfg.label:
        view = view.match({schema.LABEL_PATH: cfg.label})
    if schema.EXCLUDED in ds.get_field_schema():
        view = view.match(schema.not_excluded())
    if len(view) == 0:
        what = ", ".join(f"{k}={v}" for k, v in (("view", cfg.view), ("split", cfg.split),
                                                 ("class", cfg.label)) if v) or "the dataset"
        raise InputError(f"nothing to restore: {what} matches no samples of {ds.name!r}")
    return view


def _named_view(ds: Any, name: str | None) -> Any:
    """The saved view or tag `name` (the whole dataset when None)."""
    if not name:
        return ds
    if name in ds.list_saved_views():
        return ds.load_saved_view(name)
    if name in ds.distinct(schema.TAGS):
        return ds.match_tags(name)
    saved = ", ".join(ds.list_saved_views()) or "none"
    raise InputError(f"--view {name!r} is neither a saved view nor a tag of "
                     f"{ds.name!r} (saved views: {saved})")


def _declare_fields(ds: Any) -> None:
    f = store.fo()
    have = ds.get_field_schema()
    for name in FIELDS:
        if name not in have:
            ds.add_sample_field(name, f.StringField)


def _enable_app_toggle(ds: Any) -> None:
    """List `restored_filepath` as a media field: the App's settings then switch the grid/modal
    between original and restored images."""
    fields = list(ds.app_config.media_fields or [schema.FILEPATH])
    if RESTORED_FILEPATH not in fields:
        ds.app_config.media_fields = [*fields, RESTORED_FILEPATH]
        ds.save()


def _plan(view: Any, out_dir: Path, sha: str | None) -> tuple[list[runner.Item], int]:
    """Work items for samples whose output is not already recorded with the same weights."""
    cols = view.values(["id", schema.FILEPATH, schema.SOURCE, schema.SOURCE_ID, *FIELDS])
    todo, done = [], 0
    for sid, src, source, source_id, rpath, _method, rsha in zip(*cols, strict=True):
        dst = out_dir / output_name(source, source_id, sid)
        if rpath == str(dst) and rsha == sha and dst.is_file():
            done += 1
        else:
            todo.append(runner.Item(sid, src, dst))
    return todo, done


def _resolve_weights(cfg: RestoreConfig) -> wts.WeightsFile | None:
    if cfg.method not in MODEL_METHODS:
        return None
    wf = wts.resolve(cfg.weights, cfg.model, cfg.cache_dir, cfg.download)
    if not wf.verified:
        log.warning("weights %s are unverified (sha256 %s is not a known release)", wf.path,
                    wf.sha256)
    return wf


def _build_restorer(cfg: RestoreConfig, wf: wts.WeightsFile | None) -> Any:
    if wf is None:
        return None
    from curate.restore.gfpgan import GFPGANRestorer, load_gfpgan

    return GFPGANRestorer(load_gfpgan(wf.path), cfg.device, cfg.precision, cfg.batch)


def _load_reference(cfg: RestoreConfig, ws: Workspace) -> tuple[Any, str | None]:
    """The reference classifier and the sha256 of its metadata (None, None with --no-check)."""
    if not cfg.check:
        return None, None
    from train.reference import META, load_reference, reference_dir

    try:
        ref = load_reference(reference_dir(ws), cfg.device)
    except ModelError as e:
        raise ModelError(f"{e} (or pass --no-check to restore without the expression check)") \
            from None
    return ref, wts.sha256_file(reference_dir(ws) / META)


def restore(cfg: RestoreConfig) -> RestoreResult:
    """Restore the selected samples, record them, run the expression check, write a report."""
    t0 = time.perf_counter()
    ws = Workspace.for_dataset(cfg.dataset, cfg.workspace)
    ds = store.load_dataset(cfg.dataset)
    view = select_view(ds, cfg)
    ref, ref_sha = _load_reference(cfg, ws)  # before hours of work: no reference, no run
    wf = _resolve_weights(cfg)
    sha = wf.sha256 if wf else None
    settings = {**_settings(cfg), "weights_sha256": sha, "reference_sha256": ref_sha}
    fp = runs.fingerprint(settings, runs.sample_state(view, schema.FILEPATH))
    res = RestoreResult(selected=len(view), out_dir=str(ws.media / "restored" / cfg.tag),
                        weights=wf)
    _declare_fields(ds)
    todo, res.already_done = _plan(view, Path(res.out_dir), sha)
    if not todo and runs.is_done(ds, runs.RESTORE, fp):
        res.unchanged = True
        res.check = CheckSummary.from_dict(runs.last(ds, runs.RESTORE).get("check", {}))
        res.seconds = round(time.perf_counter() - t0, 3)
        return res
    with _engine_session(cfg):
        if todo:
            _restore_images(ds, todo, cfg, wf, res)
        _enable_app_toggle(ds)
        res.check = (_check(ds, view, ref, cfg, Path(res.out_dir), ws) if ref is not None
                     else CheckSummary(status=NO_CHECK))
    res.seconds = round(time.perf_counter() - t0, 3)
    res.report = str(_write_report(ws, cfg, res))
    runs.record(ds, runs.RESTORE, config=settings, fp=fp, seconds=res.seconds,
                counts={"selected": res.selected, "already_done": res.already_done,
                        "restored": res.restored, "skipped": len(res.skipped)},
                check=res.check.to_dict(), weights=_weights_dict(wf), report=res.report)
    return res


def _weights_dict(wf: wts.WeightsFile | None) -> dict[str, Any] | None:
    """The weights as the run history and the report record them."""
    if wf is None:
        return None
    return {"path": str(wf.path), "sha256": wf.sha256, "verified": wf.verified, "name": wf.name}


def _settings(cfg: RestoreConfig) -> dict:
    keep = ("method", "size", "color", "unsharp", "view", "split", "label", "check", "model")
    d = {k: v for k, v in asdict(cfg).items() if k in keep}
    return {**d, "weights": str(cfg.weights) if cfg.weights else None}


def _engine_session(cfg: RestoreConfig) -> contextlib.AbstractContextManager:
    """One Ray session for the images and the check (`--engine ray`); nothing for local."""
    return engine.ray_session(cfg.workers) if cfg.engine == engine.RAY else contextlib.nullcontext()


def _restore_images(ds: Any, todo: list[runner.Item], cfg: RestoreConfig,
                    wf: wts.WeightsFile | None, res: RestoreResult) -> None:
    log.info("%d to restore, %d already done (engine %s)", len(todo), res.already_done,
             cfg.engine)
    rec = runner.Recorder(ds, cfg.method_name, wf.sha256 if wf else None)
    settings = {"size": cfg.size, "method": cfg.method, "color": cfg.color,
                "unsharp": cfg.unsharp,
                "make_restorer": functools.partial(_build_restorer, cfg, wf) if wf else None}
    with task(f"restore {cfg.tag}", len(todo), cfg.progress) as tick:
        if cfg.engine == engine.RAY:
            out = runner.run_ray(todo, rec, settings, chunk=cfg.batch, workers=cfg.workers,
                                 num_gpus=cfg.num_gpus if wf else 0.0, tick=tick)
        else:
            work = runner.BatchRestore(**settings, threads=cfg.workers)
            out = runner.run(todo, rec, work, chunk=cfg.batch, tick=tick)
    res.restored, res.skipped = out.restored, out.skipped
    if out.batch_size is not None:
        res.batch_size = out.batch_size


def _check(ds: Any, view: Any, ref: Any, cfg: RestoreConfig, out_dir: Path,
           ws: Workspace) -> CheckSummary:
    """Reference predictions on original vs restored; tag changed samples, summarise."""
    view.reload()
    cols = view.values(["id", schema.FILEPATH, RESTORED_FILEPATH, schema.LABEL_PATH])
    prefix = str(out_dir) + "/"
    pairs = [row for row in zip(*cols, strict=True) if row[2] and row[2].startswith(prefix)]
    if not pairs:
        return CheckSummary(status=check.DONE)
    ids, src, dst, labels = map(list, zip(*pairs, strict=True))
    with task("expression check", len(ids), cfg.progress) as tick:
        if cfg.engine == engine.RAY:
            from train.reference import reference_dir

            p_orig, p_rest = check.predict_pairs_ray(reference_dir(ws), cfg.device, src, dst,
                                                     workers=cfg.workers,
                                                     num_gpus=cfg.num_gpus, tick=tick)
        else:
            p_orig, p_rest = check.predict_pairs(ref, src, dst, tick)
    write_issues(ds, check.score(ids, p_orig, p_rest))
    summary = check.summarize(labels, p_orig, p_rest, list(ref.spec.classes))
    log.info("expression check: %d of %d predictions changed", summary.changed,
             summary.checked)
    summary.tag, summary.reference = check.TAG, ref.info
    return summary


def _write_report(ws: Workspace, cfg: RestoreConfig, res: RestoreResult) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    body = {"dataset": cfg.dataset, "config": _settings(cfg), **asdict(res),
            "weights": _weights_dict(res.weights), "check": res.check.to_dict()}
    body.pop("report", None)
    return write_json_atomic(body, ws.reports / f"restore-{cfg.tag}-{stamp}.json")
