"""The one adapter to diffusers: find a text-to-image model, fingerprint it, load it, generate.

A model is a local diffusers folder (`model_index.json`), a single checkpoint file with a local
`--config` folder (diffusers would otherwise download one), or a hub id (used only when it is in
the local cache or the network is there). Its identity is the sha256 of its weights.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.core.errors import InputError, ModelError
from curate.core.workspace import sha256_file

log = logging.getLogger(__name__)

# Pipeline classes we drive (their call signatures are the SD / SDXL ones) -> family.
PIPELINES: dict[str, str] = {
    "StableDiffusionPipeline": "sd15",
    "StableDiffusionXLPipeline": "sdxl",
    "LatentConsistencyModelPipeline": "lcm",
}
# Family -> (default steps, default guidance). Few-step models are distilled without CFG.
FAMILY_DEFAULTS: dict[str, tuple[int, float]] = {
    "sd15": (30, 7.5), "sdxl": (30, 5.0), "turbo": (2, 0.0), "lcm": (4, 1.5),
}
FAMILIES = tuple(FAMILY_DEFAULTS)
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True, kw_only=True)
class ModelSource:
    """A resolved model: where its files are, what it is, and its weights' sha256."""

    ref: str
    kind: str  # folder | single_file | hub
    path: Path
    config: Path | None
    pipeline_class: str
    family: str
    sha256: str
    hashed_files: tuple[str, ...]

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def defaults(self) -> tuple[int, float]:
        return FAMILY_DEFAULTS[self.family]


def _folder_hash(folder: Path) -> tuple[str, tuple[str, ...]]:
    """sha256 over model_index.json and every UNet weights file (name + its own sha256)."""
    files = [folder / "model_index.json"]
    files += sorted(p for p in (folder / "unet").glob("*") if p.suffix in WEIGHT_SUFFIXES)
    if len(files) == 1:
        raise ModelError(f"{folder}: no UNet weights under unet/ (*.safetensors or *.bin); the "
                         "download is incomplete: fetch the model folder again")
    h = hashlib.sha256()
    names = []
    for f in files:
        rel = f.relative_to(folder).as_posix()
        h.update(f"{rel} {sha256_file(f)}\n".encode())
        names.append(rel)
    return h.hexdigest(), tuple(names)


def _model_index(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelError(f"{folder}/model_index.json is unreadable ({e}); fetch the model again") \
            from None


def _family(name: str, index: dict[str, Any], folder: Path, family: str) -> tuple[str, str]:
    """(pipeline class, family): from model_index.json, the scheduler and the model's name."""
    cls = index.get("_class_name", "")
    if cls not in PIPELINES:
        raise ModelError(f"{folder}: pipeline {cls or '?'} is not supported (supported: "
                         f"{', '.join(PIPELINES)})")
    if family != "auto":
        return cls, family
    sched = folder / "scheduler" / "scheduler_config.json"
    sched_cls = json.loads(sched.read_text()).get("_class_name", "") if sched.is_file() else ""
    low = name.lower()
    if "turbo" in low:
        return cls, "turbo"
    if "lcm" in low or sched_cls == "LCMScheduler" or PIPELINES[cls] == "lcm":
        return cls, "lcm"
    return cls, PIPELINES[cls]


def _hub_snapshot(ref: str) -> Path:
    """The local snapshot of a hub id: from the cache, else downloaded when the network is up."""
    from diffusers import DiffusionPipeline

    try:
        return Path(DiffusionPipeline.download(ref, local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached (diffusers raises many types): try the network
        log.info("model %s is not in the local cache; downloading", ref)
    try:
        return Path(DiffusionPipeline.download(ref))
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated repo: one message
        raise ModelError(
            f"cannot get model {ref!r} from the Hugging Face hub ({type(e).__name__}); on a "
            f"machine with network run `hf download {ref} --local-dir ~/models/"
            f"{ref.split('/')[-1]}`, copy that folder here and pass --model ~/models/"
            f"{ref.split('/')[-1]}") from None


def resolve_model(ref: str, config: Path | None = None, family: str = "auto") -> ModelSource:
    """Find the model `ref` names, check it is a diffusers text-to-image model, hash it."""
    if family != "auto" and family not in FAMILY_DEFAULTS:
        raise InputError(f"--family {family!r} unknown (choose auto, {', '.join(FAMILIES)})")
    path = Path(ref).expanduser()
    if path.is_file():
        return _single_file(ref, path, config, family)
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(f"{path} is not a diffusers model (no model_index.json): pass a "
                             "diffusers pipeline folder, or a .safetensors file with --config")
        kind = "folder"
    elif _HUB_ID.match(ref) and not ref.startswith((".", "~", "/")):
        path, kind = _hub_snapshot(ref), "hub"
    else:
        raise InputError(f"--model {ref}: no such file or folder (nor a hub id like owner/name)")
    cls, fam = _family(ref, _model_index(path), path, family)
    digest, files = _folder_hash(path)
    return ModelSource(ref=ref, kind=kind, path=path, config=None, pipeline_class=cls, family=fam,
                       sha256=digest, hashed_files=files)


def _single_file(ref: str, path: Path, config: Path | None, family: str) -> ModelSource:
    if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
        raise ModelError(f"{path} is not a diffusers model: expected a diffusers folder or a "
                         f"single checkpoint file ({', '.join(SINGLE_FILE_SUFFIXES)})")
    if config is None:
        raise InputError(f"--model {path} is a single checkpoint file: also pass --config DIR, a "
                         "local diffusers folder of the same architecture (model_index.json and "
                         "component configs); without it diffusers would try to download one")
    if not (config / "model_index.json").is_file():
        raise InputError(f"--config {config} is not a diffusers folder (no model_index.json)")
    cls, fam = _family(path.name, _model_index(config), config, family)
    return ModelSource(ref=ref, kind="single_file", path=path, config=config, pipeline_class=cls,
                       family=fam, sha256=sha256_file(path), hashed_files=(path.name,))


@dataclass
class Generated:
    image: np.ndarray  # uint8 RGB (H, W, 3)
    nsfw: bool | None  # the safety checker's flag; None when the pipeline has none


class Generator:
    """A loaded pipeline on one device; `generate` makes one image per (prompt, seed)."""

    def __init__(self, pipe: Any, source: ModelSource, device: str) -> None:
        self.pipe = pipe
        self.source = source
        self.device = device
        self.has_safety_checker = getattr(pipe, "safety_checker", None) is not None

    def generate(self, prompts: Sequence[str], negatives: Sequence[str], seeds: Sequence[int],
                 steps: int, guidance: float, size: int | None = None) -> list[Generated]:
        """Each image has its own CPU torch.Generator seeded with its seed: reproducible."""
        import torch

        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
        kwargs: dict[str, Any] = {"height": size, "width": size} if size else {}
        with torch.inference_mode():
            out = self.pipe(prompt=list(prompts), negative_prompt=list(negatives),
                            num_inference_steps=steps, guidance_scale=guidance, generator=gens,
                            output_type="np", **kwargs)
        images = np.clip(np.rint(np.asarray(out.images) * 255), 0, 255).astype(np.uint8)
        flags = getattr(out, "nsfw_content_detected", None)
        return [Generated(img, None if flags is None else bool(flags[k]))
                for k, img in enumerate(images)]


def load_generator(source: ModelSource, device: str) -> Generator:
    """Load the pipeline offline (fp16 on CUDA, fp32 on CPU); the safety checker stays on."""
    import diffusers
    import torch

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    cls = getattr(diffusers, source.pipeline_class)
    # diffusers renamed `torch_dtype` to `dtype` (the old name warns); older releases know only it.
    from diffusers.pipelines import pipeline_utils

    dt = {"dtype" if hasattr(pipeline_utils, "_resolve_dtype") else "torch_dtype": dtype}
    try:
        if source.kind == "single_file":
            pipe = cls.from_single_file(str(source.path), config=str(source.config),
                                        local_files_only=True, **dt)
        else:
            variant = "fp16" if dtype == torch.float16 and any(
                ".fp16." in f for f in source.hashed_files) else None
            pipe = cls.from_pretrained(source.path, local_files_only=True, variant=variant,
                                       **dt)
    except Exception as e:  # noqa: BLE001 - diffusers raises OSError/ValueError/its own types
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ModelError(f"cannot load model {source.ref} ({type(e).__name__}: {msg})") from None
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    gen = Generator(pipe, source, device)
    if not gen.has_safety_checker:
        log.info("model %s has no safety checker: recorded as absent on every sample", source.ref)
    return gen
