"""Training throughput of train.loop vs a plain timm loop over in-memory tensors (same model,
batch, images; fp32, NCHW), train.loop with and without mixed precision (`TrainConfig.amp`:
bf16 steps on a CPU with native bf16, fp16 on CUDA), and optionally out-of-fold probabilities
on the real FER-2013 (fast profile).

    .venv/bin/python bench/bench_train.py [--model resnet10t,resnet18] [--steps 20] [--threads 2]
    FIFTYONE_DATABASE_NAME=bench_train .venv/bin/python bench/bench_train.py --oof --limit 6000
"""

from __future__ import annotations

import argparse
import csv
import gzip
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
FER = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "fer2013" / "fer2013.csv.gz"


def fer_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n FER-2013 rows as (N, 1, 48, 48) uint8 + labels (random if no CSV)."""
    if not FER.is_file():
        rng = np.random.default_rng(0)
        return rng.integers(0, 256, (n, 1, 48, 48), dtype=np.uint8), rng.integers(0, 7, n)
    imgs, labels = [], []
    with gzip.open(FER, "rt") as fh:
        for row in csv.DictReader(fh):
            imgs.append(np.array(row["pixels"].split(), dtype=np.uint8).reshape(1, 48, 48))
            labels.append(int(row["emotion"]))
            if len(imgs) == n:
                break
    return np.stack(imgs), np.array(labels)


def plain_loop(model_name: str, images: np.ndarray, labels: np.ndarray, batch: int,
               steps: int) -> float:
    """The reference: a plain timm loop over pre-normalised in-memory tensors (no augmentation)."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False, num_classes=7, in_chans=1)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x_all = (torch.from_numpy(images).float() / 255 - 0.5) / 0.5
    y_all = torch.from_numpy(labels).long()
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        idx = torch.randint(0, len(x_all), (batch,))
        loss = loss_fn(model(x_all[idx]), y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - t0)


def our_loop(model_name: str, images: np.ndarray, labels: np.ndarray, batch: int,
             steps: int, amp: bool = True) -> float:
    from train.data import ImageSet
    from train.loop import TrainConfig, Trainer

    data = ImageSet(images=images, labels=labels, splits=np.array(["train"] * len(labels)),
                    ids=[str(i) for i in range(len(labels))])
    # the schedule must span the 2 warm-up steps plus the `steps` measured (OneCycleLR refuses
    # to step past its total): 2 steps per epoch, `steps` epochs
    cfg = TrainConfig(backbone=model_name, img_size=48, epochs=max(10, steps), batch_size=batch,
                      max_steps_per_epoch=2, patience=0, amp=amp)
    trainer = Trainer(cfg, data, None)
    trainer.train_epoch()  # warm-up (2 steps)
    trainer.steps = steps
    trainer.state.epoch = 1
    t0 = time.perf_counter()
    trainer.train_epoch()
    return steps * batch / (time.perf_counter() - t0)


def bench_throughput(args: argparse.Namespace) -> None:
    images, labels = fer_images(args.images)
    from train.model import cpu_bf16

    print(f"CPU with native bf16: {cpu_bf16()}")
    print("| model | batch | steps | plain timm img/s | train.loop fp32 img/s | ratio "
          "| train.loop amp img/s | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.model.split(","):
        plain = plain_loop(name, images, labels, args.batch, args.steps)
        fp32 = our_loop(name, images, labels, args.batch, args.steps, amp=False)
        amp = our_loop(name, images, labels, args.batch, args.steps, amp=True)
        print(f"| {name}@48 | {args.batch} | {args.steps} | {plain:.0f} | {fp32:.0f} | "
              f"{fp32 / plain:.2f}x | {amp:.0f} | {amp / plain:.2f}x |", flush=True)


def bench_oof(args: argparse.Namespace) -> None:
    """Fast-profile out-of-fold probabilities on (a subset of) the ingested real FER-2013."""
    from curate.clean.config import LabelsConfig
    from curate.clean.oof import ensure_oof
    from curate.core import schema, store
    from curate.core.workspace import Workspace

    ds = store.load_dataset(args.dataset)
    view = ds.match(schema.in_splits(["train", "val"]))
    if args.limit:
        view = view.take(args.limit, seed=0)
    cfg = LabelsConfig(fast=True, folds=args.folds, epochs=args.epochs).oof_config()
    t0 = time.perf_counter()
    s = ensure_oof(ds, view, cfg, Workspace(Path(args.workspace)), progress=False)
    print("| samples | folds | epochs | backbone | oof accuracy | log-loss | seconds |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {s.samples} | {s.folds} | {cfg.epochs} | {cfg.backbone}@{cfg.img_size} | "
          f"{100 * s.oof_accuracy:.1f}% | {s.log_loss:.3f} | "
          f"{time.perf_counter() - t0:.0f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet10t,resnet18")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--images", type=int, default=4096)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--oof", action="store_true", help="out-of-fold run on the real FER-2013")
    p.add_argument("--dataset", default="fer")
    p.add_argument("--workspace", default="/tmp/train/ws")
    p.add_argument("--limit", type=int, default=0, help="subset of train+val samples (0 = all)")
    p.add_argument("--folds", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    bench_oof(args) if args.oof else bench_throughput(args)


if __name__ == "__main__":
    main()
