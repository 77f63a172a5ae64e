"""`augment synth`: generate minority-class faces, gate them, admit the ones that pass.

Per class, image index i = 0, 1, ... gets seed `base_seed + seed_offset(class, i)` and a prompt
from the grid; indices whose seed was already admitted or rejected (for this model) are skipped,
so a re-run adds nothing twice and an interrupted run resumes. A class stops when it holds
`per_class` admitted images from this model, or after `max_attempts` indices.

The per-image work (generate, render, score) is `BatchSynth`, a function over batches of
(class, index) rows: the local engine calls it in this process, `--engine ray` runs it on Ray
Data actor pools (the model loaded once per actor; one GPU per actor on CUDA). Either way the
driver decides, writes the files and inserts the samples. Work goes out in waves of exactly
what each class still needs, in index order (a wave cannot admit more than its class needs), so
both engines try the same seeds and admit the same images.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from augment.synth import dbio
from augment.synth.dbio import Admitted
from augment.synth.gate import REASONS, GateScores, GateSettings, decide, score_batch
from augment.synth.models import FAMILIES, ModelSource, load_generator, resolve_model
from augment.synth.prompts import Prompt, PromptSet, image_seed, load_prompt_file, template_prompts
from augment.synth.render import TargetFormat, render
from curate.core import engine, runs, store
from curate.core.clikit import DEVICE_HELP, pick_device
from curate.core.errors import CurateError, InputError
from curate.core.imageio import write_png_atomic
from curate.core.options import option
from curate.core.progress import task
from curate.core.taxonomy import CLASSES
from curate.core.workspace import Workspace, write_json_atomic
from train.reference import ReferenceClassifier, load_reference, reference_dir

log = logging.getLogger(__name__)
PLANS = ("balance",)  # --plan: where the classes and counts come from (dataset.info's plan)
MODEL_ENV = "FER_CURATE_SYNTH_MODEL"  # --model's environment variable (docs/install.md)


class NothingAdmitted(CurateError):
    """Images were generated but none passed the gate (exit code 1; the reasons are in the
    message and next to each rejected image)."""


def _lower(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(n.lower() for n in names)


@dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """The `augment synth` options (each declared once: curate.core.options); validates itself."""

    model: str = option(help="Diffusers folder, single .safetensors checkpoint (with --config) "
                        "or hub id.", envvar=MODEL_ENV)
    dataset: str = store.DEFAULT_DATASET
    workspace: Path | None = None
    classes: tuple[str, ...] = option((), help="Classes to generate, e.g. disgust,fear.",
                                      convert=_lower)
    per_class: int | None = option(None, help="Admitted images wanted per class (from this "
                                   "model, counting earlier runs).")
    plan: str | None = option(None, help="balance: classes and counts from `curate balance`'s "
                              "stored plan.", choices=PLANS)
    config: Path | None = option(None, help="Local diffusers folder of the architecture, for a "
                                 "single-file --model.")
    family: str = option("auto", help="Model family (sets default steps/guidance).",
                         choices=("auto", *FAMILIES))
    steps: int | None = option(None, help="Denoising steps [default: per family].")
    guidance: float | None = option(None, help="Guidance scale [default: per family; 0 for "
                                    "turbo].")
    seed: int = option(0, help="Base seed; image i of class c uses seed + offset(c, i).")
    batch_size: int = option(1, help="Images per pipeline call.")
    size: int | None = option(None, help="Generation size in px [default: the model's].")
    target_size: int | None = option(None, help="Rendered size [default: the real train "
                                     "images' size].")
    margin: float = option(0.2, help="Face crop margin per side, as a fraction of the face box.")
    threshold: float = option(GateSettings.threshold, help="Min reference-classifier "
                              "probability of the intended class.")
    dup_radius: int = option(GateSettings.dup_radius, help="pHash Hamming distance at or below "
                             "which an image duplicates a real one.")
    max_attempts: int | None = option(None, help="Seeds tried per class at most [default: 4 x "
                                      "the count wanted].")
    prompts: Path | None = option(None, help="TOML/JSON prompt file (class -> prompts) "
                                  "replacing the templates.")
    device: str = option("cpu", help=DEVICE_HELP, cli_default="auto", convert=pick_device)
    engine: str = option(engine.LOCAL, help="local: this process; ray: Ray Data actor pools, the "
                         "model loaded once per actor (a local cluster, or the one at "
                         "RAY_ADDRESS; one GPU per actor on CUDA). The same seeds tried and "
                         "images admitted (docs/scale.md).", choices=engine.ENGINES)
    workers: int = option(1, help="Actors with --engine ray.")
    progress: bool = True

    def __post_init__(self) -> None:
        engine.check_engine(self.engine)
        if self.workers < 1:
            raise InputError(f"--workers must be >= 1, got {self.workers}")
        unknown = [c for c in self.classes if c not in CLASSES]
        if unknown:
            raise InputError(f"--classes: unknown class(es) {', '.join(unknown)} "
                             f"(classes: {', '.join(CLASSES)})")
        if self.plan is not None and self.plan not in PLANS:
            raise InputError(f"--plan {self.plan!r} unknown (choose {', '.join(PLANS)})")
        if self.plan and self.classes:
            raise InputError("give either --plan balance or --classes, not both")
        if not self.plan and not self.classes:
            raise InputError("give --classes c1,c2 with --per-class N, or --plan balance")
        if not self.plan and self.per_class is None:
            raise InputError("--classes needs --per-class N (admitted images wanted per class)")
        if not self.plan and (self.per_class or 0) < 1:
            raise InputError(f"--per-class {self.per_class} must be >= 1 with --classes")
        for name in ("steps", "batch_size", "size", "target_size", "max_attempts"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise InputError(f"--{name.replace('_', '-')} {value} must be >= 1")
        if self.guidance is not None and self.guidance < 0:
            raise InputError(f"--guidance {self.guidance} must be >= 0")
        if self.seed < 0:
            raise InputError(f"--seed {self.seed} must be >= 0")
        self.gate  # validates threshold and dup_radius  # noqa: B018
        if not 0 <= self.margin <= 1:
            raise InputError(f"--margin {self.margin} must be within 0..1")
        if self.family not in ("auto", *FAMILIES):
            raise InputError(f"--family {self.family!r} unknown (auto, {', '.join(FAMILIES)})")

    @property
    def gate(self) -> GateSettings:
        return GateSettings(threshold=self.threshold, dup_radius=self.dup_radius)


@dataclass
class ClassTally:
    """One class's counts in a run (and its rejection reasons)."""

    target: int = 0
    already: int = 0  # admitted before this run
    attempted: int = 0
    admitted: int = 0
    reasons: Counter = field(default_factory=Counter)


@dataclass
class SynthReport:
    """What `synthesize` did, per class; `to_dict` is the JSON report under reports/."""

    dataset: str
    model: dict[str, Any]
    settings: dict[str, Any]
    classes: dict[str, ClassTally] = field(default_factory=dict)
    rejected_dir: str = ""
    seconds: float = 0.0
    generate_seconds: float = 0.0
    gate_seconds: float = 0.0

    @property
    def attempted(self) -> int:
        return sum(t.attempted for t in self.classes.values())

    @property
    def admitted(self) -> int:
        return sum(t.admitted for t in self.classes.values())

    def reasons(self) -> Counter:
        return sum((t.reasons for t in self.classes.values()), Counter())

    def nothing_admitted(self) -> NothingAdmitted | None:
        """The error to report when images were generated but none passed the gate."""
        if not self.attempted or self.admitted:
            return None
        reasons = ", ".join(f"{r} {n}" for r, n in self.reasons().most_common())
        return NothingAdmitted(f"none of the {self.attempted} generated images passed the gate "
                               f"({reasons}); see the reasons next to each image in "
                               f"{self.rejected_dir}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = {c: {**asdict(t), "reasons": dict(t.reasons)}
                        for c, t in self.classes.items()}
        return d


@dataclass
class _Run:
    """What the driver needs to decide, write and insert."""

    cfg: SynthConfig
    source: ModelSource
    prompts: PromptSet
    media: Path
    rejected: Path
    steps: int
    guidance: float
    safety_checker: bool | None = None  # the pipeline's, as its first batch reports it


class BatchSynth:
    """Generate, render and score batches of (cls, index) rows: the per-image work, built once
    per process (the local engine) or per Ray actor (`--engine ray`). Returns per row the
    rendered image, its gate scores, the generated size and whether the pipeline has a safety
    checker; it never touches the database or writes a file."""

    def __init__(self, *, source: ModelSource, device: str,
                 reference: str | ReferenceClassifier, prompts: PromptSet,
                 target: TargetFormat, margin: float, steps: int, guidance: float,
                 size: int | None, seed: int, real_hashes: Any, real_ids: list[str]) -> None:
        """`reference`: the loaded classifier (this process), or its folder (a Ray actor)."""
        self.gen = load_generator(source, device)
        self.ref = (load_reference(Path(reference), device) if isinstance(reference, str)
                    else reference)
        self.prompts, self.target, self.margin = prompts, target, margin
        self.steps, self.guidance, self.size, self.seed = steps, guidance, size, seed
        self.real_hashes, self.real_ids = real_hashes, real_ids

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        classes = [str(c) for c in batch["cls"]]
        indices = [int(i) for i in batch["index"]]
        seeds = [image_seed(self.seed, c, i) for c, i in zip(classes, indices, strict=True)]
        prompts = [self.prompts.for_image(c, i) for c, i in zip(classes, indices, strict=True)]
        t = time.perf_counter()
        outs = self.gen.generate([p.text for p in prompts], [p.negative for p in prompts], seeds,
                                 self.steps, self.guidance, self.size)
        t_gate = time.perf_counter()
        rendered, faces = [], []
        for o in outs:
            img, box = render(o.image, self.target, self.margin)
            rendered.append(img)
            faces.append((box is not None, box.score if box else 0.0))
        probs = self.ref.predict_proba(rendered)
        scores = score_batch(faces, rendered, classes, probs, self.ref.spec.classes,
                             [o.nsfw for o in outs], [int(o.image.max()) for o in outs],
                             self.real_hashes, self.real_ids)
        n, images = len(outs), np.empty(len(outs), dtype=object)
        images[:] = rendered
        return {"cls": batch["cls"], "index": batch["index"], "image": images,
                "scores": np.asarray([json.dumps(x.to_dict()) for x in scores], dtype=object),
                "size": np.asarray([[o.image.shape[1], o.image.shape[0]] for o in outs],
                                   dtype=np.int64).reshape(n, 2),
                "safety_checker": np.full(n, self.gen.has_safety_checker, dtype=bool),
                "generate_seconds": np.full(n, (t_gate - t) / max(n, 1)),
                "gate_seconds": np.full(n, (time.perf_counter() - t_gate) / max(n, 1))}


def _targets(cfg: SynthConfig, ds: Any) -> dict[str, int]:
    if cfg.plan:
        plan = dbio.balance_plan(ds)
        unknown = [c for c in plan if c not in CLASSES]
        if unknown:
            raise InputError(f"balance plan names unknown class(es) {', '.join(unknown)}")
        return {c: n for c, n in plan.items() if n > 0}
    return {c: int(cfg.per_class or 0) for c in cfg.classes}


def synthesize(cfg: SynthConfig) -> SynthReport:
    """Generate, gate and admit synthetic faces; returns per-class counts and reasons."""
    t0 = time.perf_counter()
    ws = Workspace.for_dataset(cfg.dataset, cfg.workspace)
    ds = store.load_dataset(cfg.dataset)
    targets = _targets(cfg, ds)
    prompts = load_prompt_file(cfg.prompts) if cfg.prompts else template_prompts()
    for c in targets:
        prompts.for_image(c, 0)  # a prompt file must cover every class asked
    ref = load_reference(reference_dir(ws), cfg.device)  # none: stop with its message
    missing = [c for c in targets if c not in ref.spec.classes]
    if missing:
        raise InputError(f"the reference classifier has no class {', '.join(missing)}")
    source = resolve_model(cfg.model, cfg.config, cfg.family)
    steps, guidance = source.defaults()
    steps, guidance = cfg.steps or steps, guidance if cfg.guidance is None else cfg.guidance
    media, rejected = ws.media / "synthetic", ws.media / "synthetic" / "rejected"
    report = SynthReport(cfg.dataset, _model_info(source), {
        "steps": steps, "guidance": guidance, "seed": cfg.seed, "batch_size": cfg.batch_size,
        "threshold": cfg.gate.threshold, "dup_radius": cfg.gate.dup_radius,
        "prompts": prompts.source, "plan": cfg.plan}, rejected_dir=str(rejected))
    todo = _todo(cfg, ds, targets, source, report)
    if any(todo.values()):
        run = _Run(cfg, source, prompts, media, rejected, steps, guidance)
        target = dbio.target_format(ds, cfg.target_size)
        report.settings["target"] = target.describe()
        hashes, hash_ids = dbio.real_hashes(ds, ws.runs / "synth" / "real_phash.json",
                                            cfg.progress)
        work = {"source": source, "device": cfg.device, "reference": str(reference_dir(ws)),
                "prompts": prompts, "target": target, "margin": cfg.margin, "steps": steps,
                "guidance": guidance, "size": cfg.size, "seed": cfg.seed,
                "real_hashes": hashes, "real_ids": hash_ids}
        _generate_all(run, ds, todo, report, work, ref)
        report.model["safety_checker"] = run.safety_checker
    report.seconds = round(time.perf_counter() - t0, 3)
    _record(ds, ws, cfg, report)
    return report


def _todo(cfg: SynthConfig, ds: Any, targets: dict[str, int], source: ModelSource,
          report: SynthReport) -> dict[str, list[int]]:
    """Per class, the image indices still to try (their seeds undecided for this model); fills
    the report's tallies with each class's target and what it already holds."""
    rejected = Path(report.rejected_dir)
    todo: dict[str, list[int]] = {}
    for c, n in targets.items():
        decided, n_admitted = dbio.decided_seeds(ds, rejected, source.short_hash, c)
        if cfg.plan:  # the plan asks for n more (from any model): count from what is here
            n += n_admitted
        report.classes[c] = ClassTally(target=n, already=n_admitted)
        limit = cfg.max_attempts or 4 * n
        todo[c] = [] if n_admitted >= n else [
            i for i in range(limit) if image_seed(cfg.seed, c, i) not in decided]
    return todo


def _model_info(source: ModelSource) -> dict[str, Any]:
    return {"id": source.ref, "kind": source.kind, "sha256": source.sha256,
            "pipeline": source.pipeline_class, "family": source.family,
            "hashed_files": list(source.hashed_files),
            "config": str(source.config) if source.config else None}


def _generate_all(run: _Run, ds: Any, todo: dict[str, list[int]], report: SynthReport,
                  work: dict[str, Any], ref: ReferenceClassifier) -> None:
    """Waves of (class, index) rows, each exactly what every class still needs, until each
    class has its images or has tried its indices; each wave's results are decided, written
    and inserted as they come back."""
    cfg = run.cfg
    total = sum(min(len(v), 4 * max(1, report.classes[c].target)) for c, v in todo.items())
    pos = dict.fromkeys(todo, 0)
    local: BatchSynth | None = None
    session = (engine.ray_session(cfg.workers) if cfg.engine == engine.RAY
               else contextlib.nullcontext())
    with session, task("synth", total, cfg.progress) as tick:
        while True:
            wave = []
            for c, indices in todo.items():
                tally = report.classes[c]
                need = max(0, tally.target - tally.already - tally.admitted)
                wave += [(c, i) for i in indices[pos[c]:pos[c] + need]]
                pos[c] += min(need, len(indices) - pos[c])
            if not wave:
                return
            rows = {"cls": np.asarray([c for c, _ in wave], dtype=object),
                    "index": np.asarray([i for _, i in wave], dtype=np.int64)}
            if cfg.engine == engine.RAY:
                gpus = 1.0 if cfg.device.startswith("cuda") else 0.0
                batches = engine.ray_map(rows, BatchSynth, work, batch_size=cfg.batch_size,
                                         workers=cfg.workers, num_gpus=gpus)
            else:
                local = local or BatchSynth(**{**work, "reference": ref})
                batches = (local({k: v[i:i + cfg.batch_size] for k, v in rows.items()})
                           for i in range(0, len(wave), cfg.batch_size))
            for batch in batches:
                _admit(run, ds, batch, report)
                tick(len(batch["index"]))


def _admit(run: _Run, ds: Any, batch: dict[str, np.ndarray], report: SynthReport) -> None:
    """Decide a scored batch; write its files, then insert the admitted."""
    rows = []
    run.safety_checker = bool(batch["safety_checker"][0])
    report.generate_seconds += float(batch["generate_seconds"].sum())
    report.gate_seconds += float(batch["gate_seconds"].sum())
    for cls, i, img, scores, size in zip(batch["cls"], batch["index"], batch["image"],
                                         batch["scores"], batch["size"], strict=True):
        cls, s = str(cls), GateScores(**json.loads(scores))
        reasons = decide(s, run.cfg.gate)
        seed = image_seed(run.cfg.seed, cls, int(i))
        prompt = run.prompts.for_image(cls, int(i))
        prov = _provenance(run, cls, seed, prompt, s, reasons, [int(v) for v in size])
        tally = report.classes[cls]
        tally.attempted += 1
        tally.reasons.update(reasons)
        row = _write(run, cls, seed, img, prov, reasons)
        if row is not None:
            rows.append(row)
            tally.admitted += 1
    dbio.add_synthetic(ds, rows)


def _write(run: _Run, cls: str, seed: int, img: Any, prov: dict[str, Any],
           reasons: list[str]) -> Admitted | None:
    """Write a rejected image with its reasons under rejected/, or an admitted one under
    media/synthetic/<class>/ (returned, to be inserted)."""
    short = run.source.short_hash
    name = f"{short}_{seed}"
    if reasons:
        write_png_atomic(img, run.rejected / cls / f"{name}.png")
        write_json_atomic({"class": cls, "reasons": reasons, **prov},
                          run.rejected / cls / f"{name}.json")
        return None
    path = run.media / cls / f"{name}.png"
    size = write_png_atomic(img, path)
    return Admitted(filepath=str(path), cls=cls, source_id=f"{short}/{cls}/{seed}",
                    width=img.shape[1], height=img.shape[0],
                    channels=1 if img.ndim == 2 else img.shape[2], size_bytes=size,
                    synthetic=prov)


def _provenance(run: _Run, cls: str, seed: int, prompt: Prompt, s: GateScores,
                reasons: list[str], size: list[int]) -> dict[str, Any]:
    """What made the image and what the gate measured (schema.SYNTHETIC, or the rejected JSON)."""
    src = run.source
    return {"model": src.ref, "model_sha256": src.sha256, "pipeline": src.pipeline_class,
            "family": src.family, "prompt": prompt.text, "negative_prompt": prompt.negative,
            "seed": seed,
            "steps": run.steps, "guidance": run.guidance, "size": size,
            "intended_class": cls, "safety_checker": run.safety_checker,
            "gate": {**s.to_dict(), "threshold": run.cfg.gate.threshold,
                     "dup_radius": run.cfg.gate.dup_radius, "passed": not reasons}}


def _record(ds: Any, ws: Workspace, cfg: SynthConfig, report: SynthReport) -> None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = write_json_atomic(report.to_dict(), ws.reports / f"synth-{stamp}.json")
    config = json.loads(json.dumps({k: v for k, v in asdict(cfg).items() if k != "progress"},
                                   default=str))
    counts = {"attempted": report.attempted, "admitted": report.admitted,
              "reasons": {r: report.reasons().get(r, 0) for r in REASONS}}
    fp = runs.fingerprint({**config, "model_sha256": report.model["sha256"]})
    runs.record(ds, runs.SYNTH, config=config, fp=fp, counts=counts, seconds=report.seconds,
                report=str(path))
    report.settings["report"] = str(path)
