"""Benchmark of `augment synth`: generation images/s, the gate's images/s on real FER-2013 faces,
and the gate's cost relative to one step of an SD-Turbo-size UNet on this CPU (target < 10%).

    .venv/bin/python bench/bench_synth.py [--csv fer2013.csv.gz] [--n-gate 300]
    .venv/bin/python bench/bench_synth.py --model ~/models/sd-turbo --reference ws/runs/reference

Without --model, generation is timed on a tiny randomly-initialised SD pipeline (the real code
path, not real images). With --model (real weights) and --reference, it also generates faces of
disgust and fear and prints the gate's admission rates per reason.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
DEFAULT_CSV = ROOT.parent / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def fer_faces(path: Path, n: int) -> list[np.ndarray]:
    out = []
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as fh:
        for row in csv.DictReader(fh):
            out.append(np.array(row["pixels"].split(), dtype=np.uint8).reshape(48, 48))
            if len(out) == n:
                break
    return out


def time_gate(images: list[np.ndarray], ref, real_hashes: np.ndarray) -> float:
    """Seconds per image of the whole gate: render (detect, crop, convert), reference, pHash."""
    from augment.synth.gate import GateSettings, decide, score_batch
    from augment.synth.render import TargetFormat, render

    target = TargetFormat(48, 48, 1)
    ids = [str(i) for i in range(len(real_hashes))]
    t = time.perf_counter()
    for k in range(0, len(images), 8):
        batch = images[k:k + 8]
        rendered, faces = [], []
        for img in batch:
            r, box = render(img, target)
            rendered.append(r)
            faces.append((box is not None, box.score if box else 0.0))
        probs = ref.predict_proba(rendered)
        for s in score_batch(faces, rendered, ["fear"] * len(batch), probs, ref.spec.classes,
                             [None] * len(batch), [int(i.max()) for i in batch], real_hashes, ids):
            decide(s, GateSettings())
    return (time.perf_counter() - t) / len(images)


def unet_step_seconds() -> float:
    """One denoising step of a randomly-initialised UNet with SD-Turbo's (SD 2.1) dimensions."""
    import torch
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel(
        sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
        cross_attention_dim=1024, attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3).eval()
    x, ctx = torch.randn(1, 4, 64, 64), torch.randn(1, 77, 1024)
    with torch.inference_mode():
        t = time.perf_counter()
        unet(x, 999, encoder_hidden_states=ctx)
        return time.perf_counter() - t


def tiny_generation(n: int, batch: int) -> float:
    """Images/s of the real generation code on a tiny random SD-1.5-style pipeline, 2 steps."""
    from synth_fixtures import make_sd15

    from augment.synth.models import load_generator, resolve_model

    with tempfile.TemporaryDirectory() as tmp:
        gen = load_generator(resolve_model(str(make_sd15(Path(tmp) / "tiny"))), "cpu")
        gen.generate(["a face"], [""], [0], 2, 7.5)  # warm-up
        t = time.perf_counter()
        for k in range(0, n, batch):
            m = min(batch, n - k)
            gen.generate(["a face"] * m, ["blurry"] * m, list(range(k, k + m)), 2, 7.5)
        return n / (time.perf_counter() - t)


def real_model(args, ref, real_hashes: np.ndarray) -> None:
    """Generation images/s of real weights, and admission rates per reason."""
    from augment.synth.gate import GateSettings, decide, score_batch
    from augment.synth.models import load_generator, resolve_model
    from augment.synth.prompts import image_seed, template_prompts
    from augment.synth.render import TargetFormat, render

    src = resolve_model(args.model, args.config)
    gen = load_generator(src, args.device)
    steps, guidance = src.defaults()
    prompts, target, reasons, n = template_prompts(), TargetFormat(48, 48, 1), Counter(), 0
    t_gen = 0.0
    for cls in ("disgust", "fear"):
        for i in range(args.n_real):
            p = prompts.for_image(cls, i)
            t = time.perf_counter()
            [o] = gen.generate([p.text], [p.negative], [image_seed(0, cls, i)], steps, guidance)
            t_gen += time.perf_counter() - t
            r, box = render(o.image, target)
            [s] = score_batch([(box is not None, box.score if box else 0.0)], [r], [cls],
                              ref.predict_proba([r]), ref.spec.classes, [o.nsfw],
                              [int(o.image.max())], real_hashes, [""] * len(real_hashes))
            why = decide(s, GateSettings(threshold=args.threshold))
            reasons.update(why or ["admitted"])
            n += 1
    print(f"\nreal model {src.ref} ({src.family}, {steps} steps): {n / t_gen:.3f} images/s")
    print("| outcome | images | rate |\n|---|---:|---:|")
    for k, v in reasons.most_common():
        print(f"| {k} | {v} | {v / n:.1%} |")


def reference(args):
    """The --reference classifier, or (timing only) one of a realistic size with random weights."""
    from train.reference import ReferenceSpec, build_model, load_reference, save_reference

    if args.reference:
        return load_reference(args.reference, args.device)
    tmp = Path(tempfile.mkdtemp())
    spec = ReferenceSpec(backbone="resnet18", img_size=48)
    save_reference(tmp, [build_model(spec)], spec)
    return load_reference(tmp)


def padded_real_hashes(faces: list[np.ndarray]) -> np.ndarray:
    """The faces' pHashes, padded with random 64-bit values to FER-2013's 35,887 images
    (nearest() costs the same for any values)."""
    from augment.synth.gate import phashes

    hashes = phashes(faces)
    pad = np.random.default_rng(0).integers(0, 2**63, 35_887 - len(hashes), dtype=np.int64)
    return np.concatenate([hashes, pad.astype(np.uint64)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--n-gate", type=int, default=300)
    ap.add_argument("--n-gen", type=int, default=8)
    ap.add_argument("--model")
    ap.add_argument("--config", type=Path)
    ap.add_argument("--reference", type=Path)
    ap.add_argument("--n-real", type=int, default=10, help="images per class with --model")
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    import torch
    from PIL import Image

    torch.set_num_threads(2)
    faces = fer_faces(args.csv, args.n_gate)
    ref = reference(args)
    real_hashes = padded_real_hashes(faces)
    as_generated = [np.asarray(Image.fromarray(f).convert("RGB").resize((512, 512))) for f in faces]
    gate_native = time_gate([np.stack([f] * 3, -1) for f in faces], ref, real_hashes)
    gate_512 = time_gate(as_generated, ref, real_hashes)
    step = unet_step_seconds()
    tiny1, tiny4 = tiny_generation(args.n_gen, 1), tiny_generation(args.n_gen, 4)

    print(f"\ngate on {len(faces)} real FER-2013 faces, reference resnet18@48, "
          f"{len(real_hashes)} real hashes, {torch.get_num_threads()} threads")
    print("| what | images/s | s/image |\n|---|---:|---:|")
    for name, s in (("gate, 48 px input", gate_native), ("gate, 512 px input (as generated)",
                                                        gate_512)):
        print(f"| {name} | {1 / s:.1f} | {s:.4f} |")
    print(f"| generation, tiny SD pipeline, 2 steps, batch 1 | {tiny1:.2f} | {1 / tiny1:.3f} |")
    print(f"| generation, tiny SD pipeline, 2 steps, batch 4 | {tiny4:.2f} | {1 / tiny4:.3f} |")
    print(f"| ONE SD-Turbo-size UNet step (random init), batch 1 | {1 / step:.3f} | {step:.2f} |")
    print(f"\ngate (512 px input) / one SD-Turbo-size UNet step = {gate_512 / step:.2%} "
          f"(target < 10%; a 1-step turbo image also needs the text encoder and VAE decode, "
          f"so the true ratio is lower)")
    if args.model:
        if not args.reference:
            print("admission rates need --reference DIR (a trained reference classifier)")
            return
        real_model(args, ref, real_hashes)


if __name__ == "__main__":
    main()
