"""The training loop: any timm backbone (train/model.py) on in-memory uint8 images; AdamW with
a cosine or one-cycle schedule; seeded; mixed-precision training steps (fp16 on CUDA, bf16 on a
CPU with native bf16) in channels-last layout; early stopping on val; the best weights as
safetensors + JSON config; resumable from `last.pt` (model, optimizer, scheduler, RNG state and
the `TrainState`), which loads under `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, cast

from curate.core.errors import InputError, ModelError
from curate.core.progress import task
from curate.core.workspace import atomic_path, write_json_atomic
from train import distributed
from train.data import ImageSet, augment
from train.metrics import evaluate
from train.model import autocast, check_backbone, create_model, load_weights, predict, to_input
from train.reference import ReferenceSpec
from train.robust import LOSSES, REWEIGHTS, SCN_RELABEL_FROM, make_loss, relabel_rows, self_cure

log = logging.getLogger(__name__)

MONITORS = ("macro_f1", "accuracy", "loss")
BEST, LAST, CONFIG = "best.safetensors", "last.pt", "config.json"


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Everything that decides a training run (its fingerprint)."""

    backbone: str = "resnet18"
    img_size: int = 48
    in_chans: int = 1
    epochs: int = 30
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    schedule: str = "onecycle"
    warmup_frac: float = 0.1
    label_smoothing: float = 0.0
    loss: str = "ce"  # train/robust.py: ce, gce (generalized cross-entropy)
    loss_q: float = 0.7  # gce's q
    reweight: str = "none"  # train/robust.py: none, scn (Self-Cure-Network-style weights)
    shift: int = 3
    flip: bool = True
    patience: int = 8
    monitor: str = "macro_f1"
    seed: int = 0
    device: str = "cpu"
    pretrained: str | None = None
    freeze_epochs: int = 0
    max_steps_per_epoch: int | None = None
    tta_flip: bool = True
    # mixed precision in the training steps: fp16 on CUDA, bf16 on a CPU with native bf16
    # (AVX512-BF16 / AMX; `train.model.cpu_bf16`), fp32 elsewhere; predictions stay fp32 on
    # CPU (speed: bench/bench_train.py); False: fp32 steps everywhere
    amp: bool = True
    # never set by the tool, but part of every saved config.json and run fingerprint: dropping
    # it would make finished runs unreadable (`read_run_config`) and retrain them
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("img_size", "in_chans", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}={getattr(self, name)}: must be at least 1")
        if self.in_chans not in (1, 3):
            raise InputError(f"in_chans={self.in_chans}: use 1 (grayscale) or 3 (RGB)")
        if self.schedule not in SCHEDULES:  # the registry below the class
            raise InputError(f"schedule={self.schedule!r}: use one of {', '.join(SCHEDULES)}")
        if self.loss not in LOSSES:
            raise InputError(f"loss={self.loss!r}: use one of {', '.join(LOSSES)}")
        if self.reweight not in REWEIGHTS:
            raise InputError(f"reweight={self.reweight!r}: use one of {', '.join(REWEIGHTS)}")
        if self.label_smoothing and self.loss != "ce":
            raise InputError(f"label_smoothing applies to loss='ce', not {self.loss!r}")
        if not (0 < self.loss_q <= 1):
            raise InputError(f"loss_q={self.loss_q}: expected a value in (0, 1]")
        if self.monitor not in MONITORS:
            raise InputError(f"monitor={self.monitor!r}: use one of {', '.join(MONITORS)}")
        if not (0 < self.lr < 1):
            raise InputError(f"lr={self.lr}: expected a value in (0, 1)")
        check_backbone(self.backbone)
        if self.pretrained and not Path(self.pretrained).is_file():
            raise ModelError(f"pretrained weights {self.pretrained} not found: give a local "
                             f".safetensors/.pth file of {self.backbone}")

    def spec(self) -> ReferenceSpec:
        return ReferenceSpec(backbone=self.backbone, img_size=self.img_size, in_chans=self.in_chans)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _onecycle(opt, cfg: TrainConfig, total_steps: int):  # noqa: ANN001, ANN202
    import torch

    total = max(total_steps, 4)  # OneCycleLR divides by each phase's length
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=total,
        pct_start=min(max(cfg.warmup_frac, 2.5 / total), 0.5))


def _cosine(opt, cfg: TrainConfig, total_steps: int):  # noqa: ANN001, ANN202
    """Linear warm-up, then cosine decay to 0."""
    import torch

    warm = max(1, int(cfg.warmup_frac * total_steps))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        t = (step - warm) / max(1, total_steps - warm)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# The learning-rate schedules the loop supports (the `--schedule` choices): name -> builder.
SCHEDULES: dict[str, Callable[..., Any]] = {"onecycle": _onecycle, "cosine": _cosine}


@dataclass(frozen=True, kw_only=True)
class FitResult:
    """What `Trainer.fit` returns: the history, the best epoch and the model with its weights."""

    history: list[dict[str, float]]
    best_epoch: int
    best_score: float
    seconds: float
    images_per_s: float
    stopped_early: bool
    model: Any = None


@dataclass(kw_only=True)
class TrainState:
    """Where a run stands; mutable, updated by `Trainer` each epoch and saved in `last.pt`."""

    epoch: int = 0  # epochs finished
    best_score: float = -math.inf  # the monitored score of the best epoch so far
    best_epoch: int = -1
    bad_epochs: int = 0  # epochs since the best one, for early stopping
    history: list[dict[str, float]] = field(default_factory=list)  # a row per epoch
    seconds: float = 0.0  # time spent in training epochs (val scoring excluded)
    images: int = 0  # images trained on (all ranks together)
    relabelled: int = 0  # SCN (train/robust.py): train labels changed so far

    def to_dict(self) -> dict[str, Any]:
        """The checkpoint's `state`: plain values, the history as JSON text, so that `last.pt`
        loads under `torch.load(weights_only=True)`."""
        return {**asdict(self), "history": json.dumps(self.history)}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> TrainState:
        """The inverse of `to_dict`; a key an older checkpoint lacks keeps its default."""
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in state.items() if k in known}
        if isinstance(kw.get("history"), str):
            kw["history"] = json.loads(kw["history"])
        return cls(**kw)


def _set_frozen(model, frozen: bool) -> None:  # noqa: ANN001
    head = {id(p) for p in model.get_classifier().parameters()}
    for p in model.parameters():
        p.requires_grad_(not frozen or id(p) in head)


def _score(metrics: dict[str, float], monitor: str) -> float:
    return -metrics["loss"] if monitor == "loss" else metrics[monitor]


def _val_metrics(model, val: ImageSet, cfg: TrainConfig) -> dict[str, float]:  # noqa: ANN001
    probs = predict(model, val.images, device=cfg.device, tta_flip=False)
    m = evaluate(probs, val.labels, val.classes)
    return {"loss": m["log_loss"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


class Trainer:
    """One training run over an in-memory ImageSet, checkpointing into `run_dir` (if given)."""

    def __init__(self, cfg: TrainConfig, train: ImageSet, val: ImageSet | None,
                 run_dir: Path | None = None, progress: bool = False) -> None:
        import torch

        self.cfg, self.train, self.val, self.dir, self.progress = cfg, train, val, run_dir, progress
        self.rank = distributed.current()
        torch.manual_seed(cfg.seed)
        self.gen = torch.Generator().manual_seed(cfg.seed)  # the same on every rank
        self.model = create_model(cfg, len(train.classes)).to(
            cfg.device, memory_format=torch.channels_last)
        self.net = self._ddp() if self.rank.active else self.model  # what the step calls
        # SCN's attention head (train/robust.py): trained with the model, never saved in it
        self.aux = (self_cure(self.model.num_features).to(cfg.device)
                    if cfg.reweight == "scn" else None)
        self.steps = self._steps_per_epoch()
        params = [*self.model.parameters(), *(self.aux.parameters() if self.aux else ())]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = SCHEDULES[cfg.schedule](self.opt, cfg, self.steps * cfg.epochs)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and cfg.device.startswith("cuda"))
        self.loss_fn = make_loss(cfg.loss, label_smoothing=cfg.label_smoothing, q=cfg.loss_q)
        self.images = torch.from_numpy(train.images).to(cfg.device)
        # soft labels (curate apply --soften) are the targets where the data has them
        targets = train.labels if train.soft is None else train.soft
        self.labels = torch.from_numpy(targets).clone().to(cfg.device)  # SCN relabels rows
        self.state = TrainState()
        self._best_state: dict | None = None  # the best weights in memory when there is no run_dir

    def _ddp(self):  # noqa: ANN202 - a DistributedDataParallel around self.model
        """DDP over the process group (train/distributed.py): one global batch per step, each
        rank holding `batch_size / world` of its rows."""
        from torch.nn.parallel import DistributedDataParallel

        cfg, world = self.cfg, self.rank.world
        if cfg.reweight != "none":
            raise InputError(f"--nproc {world}: reweight={cfg.reweight!r} trains on one process "
                             "only (its head relabels rows of the whole batch)")
        distributed.check_share(world, cfg.batch_size)
        cuda = cfg.device.startswith("cuda")
        return DistributedDataParallel(self.model, device_ids=[self.rank.local_rank] if cuda
                                       else None)

    def _steps_per_epoch(self) -> int:
        n = len(self.train) // self.cfg.batch_size or 1
        return min(n, self.cfg.max_steps_per_epoch or n)

    def train_epoch(self) -> float:
        """One pass over the shuffled train set; returns the mean training loss."""
        import torch

        cfg, model = self.cfg, self.model
        _set_frozen(model, self.state.epoch < cfg.freeze_epochs)
        model.train()
        perm = torch.randperm(len(self.train), generator=self.gen)
        total, n = 0.0, 0
        bs = min(cfg.batch_size, len(self.train))
        with task(f"epoch {self.state.epoch + 1}/{cfg.epochs}", self.steps,
                  self.progress) as tick:
            for s in range(self.steps):
                idx = perm[s * bs:(s + 1) * bs]
                if self.rank.active:  # this rank's rows of the global batch
                    idx = idx[self.rank.rank::self.rank.world]
                idx = idx.to(cfg.device)
                total += self._step(idx) * len(idx)
                n += len(idx)
                tick()
        if self.rank.active:  # the global batch's mean loss and image count
            import torch.distributed as dist

            t = torch.tensor([total, float(n)], dtype=torch.float64, device=cfg.device)
            dist.all_reduce(t)
            total, n = float(t[0]), int(t[1])
        self.state.images += n
        return total / max(n, 1)

    def _step(self, idx) -> float:  # noqa: ANN001 - a tensor of row indices
        """One optimiser step on the rows `idx`; returns the batch loss."""
        cfg = self.cfg
        x = augment(to_input(self.images[idx]), self.gen, cfg.shift, cfg.flip)
        y = self.labels[idx]
        with autocast(cfg.device, amp=cfg.amp, train=True):
            if self.aux is None:
                loss = self.loss_fn(self.net(x).float(), y)
            else:
                step = self.aux.step(self.model, x, y, self.loss_fn)
                loss = step.loss
        if self.aux is not None and self.state.epoch >= SCN_RELABEL_FROM * cfg.epochs:
            self._relabel(idx, step, y)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()
        return float(loss.detach())

    def _relabel(self, idx, step, y) -> None:  # noqa: ANN001 - tensors and a robust.Step
        """SCN's relabelling: the batch's low-weight rows whose prediction beats their target
        by the margin take the predicted class for the rest of the run."""
        import torch

        rows, cls = relabel_rows(step, y)
        if not len(rows):
            return
        at = idx[rows]
        if self.labels.ndim == 1:
            self.labels[at] = cls
        else:
            self.labels[at] = torch.nn.functional.one_hot(cls, self.labels.shape[1]).to(
                self.labels.dtype)
        self.state.relabelled += int(len(rows))

    def fit(self) -> FitResult:
        """Train until the epoch budget or early stopping; keep the best weights on val."""
        cfg, st = self.cfg, self.state
        stopped = False
        while st.epoch < cfg.epochs:
            score = self._epoch()
            if score > st.best_score:
                st.best_score, st.best_epoch, st.bad_epochs = score, st.epoch, 0
                self._save_best()
            else:
                st.bad_epochs += 1
            self._save_last()
            if cfg.patience and st.bad_epochs >= cfg.patience:
                stopped = True
                log.info("early stop after epoch %d (best %d)", st.epoch, st.best_epoch)
                break
        distributed.barrier()  # rank 0's files are written before any rank reads them
        return self._result(stopped)

    def _epoch(self) -> float:
        """Train one epoch, score it on val, log it in the history; returns its score."""
        st = self.state
        t0 = time.perf_counter()
        train_loss = self.train_epoch()
        st.seconds += time.perf_counter() - t0
        row = {"epoch": st.epoch + 1, "train_loss": train_loss,
               "lr": self.opt.param_groups[0]["lr"]}
        if self.aux is not None:
            row["relabelled"] = st.relabelled  # SCN: train labels changed so far
        if self.val is not None and len(self.val):
            # rank 0 scores val (the models are in sync); every rank gets its result
            mine = _val_metrics(self.model, self.val, self.cfg) if self.rank.main else None
            val = cast("dict[str, float]", distributed.broadcast(mine))
            row.update({f"val_{k}": v for k, v in val.items()})
            score = _score(val, self.cfg.monitor)
        else:  # no val (e.g. out-of-fold training): the last epoch is the one kept
            score = float(st.epoch)
        st.history.append(row)
        st.epoch += 1
        log.info("epoch %d: %s", st.epoch,
                 ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
        return score

    def _result(self, stopped: bool) -> FitResult:
        st = self.state
        if self.dir is not None and (self.dir / BEST).is_file():
            load_weights(self.model, self.dir / BEST)
        elif self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        ips = st.images / st.seconds if st.seconds else 0.0
        return FitResult(history=st.history, best_epoch=st.best_epoch,
                         best_score=st.best_score, seconds=st.seconds, images_per_s=ips,
                         stopped_early=stopped, model=self.model)

    def _save_best(self) -> None:
        if self.dir is not None and not self.rank.main:
            return
        if self.dir is None:
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return
        from safetensors.torch import save_file

        with atomic_path(self.dir / BEST, suffix=".safetensors") as tmp:
            save_file({k: v.detach().cpu().contiguous()
                       for k, v in self.model.state_dict().items()}, str(tmp))
        write_json_atomic({"config": self.cfg.to_dict(), "spec": asdict(self.cfg.spec()),
                           "best_epoch": self.state.best_epoch,
                           "best_score": self.state.best_score,
                           "monitor": self.cfg.monitor}, self.dir / CONFIG)

    def _save_last(self) -> None:
        import torch

        if self.dir is None or not self.rank.main:
            return
        ckpt = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(), "scaler": self.scaler.state_dict(),
                "rng": {"gen": self.gen.get_state(), "torch": torch.get_rng_state()},
                "state": self.state.to_dict(),
                "config": json.dumps(self.cfg.to_dict(), sort_keys=True)}
        if self.aux is not None:  # SCN: its head and the labels it changed
            ckpt.update(aux=self.aux.state_dict(), labels=self.labels.cpu())
        with atomic_path(self.dir / LAST, suffix=".pt") as tmp:
            torch.save(ckpt, tmp)

    def resume(self) -> bool:
        """Continue from `run_dir/last.pt` when present; False when there is nothing to resume."""
        import torch

        path = None if self.dir is None else self.dir / LAST
        if path is None or not path.is_file():
            return False
        try:
            ckpt = torch.load(path, map_location=self.cfg.device, weights_only=True)
            self.model.load_state_dict(ckpt["model"])
            self.opt.load_state_dict(ckpt["optimizer"])
            self.sched.load_state_dict(ckpt["scheduler"])
            self.scaler.load_state_dict(ckpt["scaler"])
            if self.aux is not None:
                self.aux.load_state_dict(ckpt["aux"])
                self.labels = ckpt["labels"].to(self.cfg.device)
            saved_cfg = ckpt["config"]
            rng, state = ckpt["rng"], TrainState.from_dict(ckpt["state"])
        except Exception as e:  # noqa: BLE001 - a damaged file fails in many ways
            raise ModelError(f"checkpoint {path} is corrupt or incompatible "
                             f"({type(e).__name__}: {str(e)[:100]}); delete it to start over"
                             ) from None
        if _portable(json.loads(saved_cfg)) != _portable(self.cfg.to_dict()):
            raise InputError(f"{self.dir} holds a run with different settings; choose another "
                             "--out folder or delete it to start over")
        self.gen.set_state(rng["gen"])
        torch.set_rng_state(rng["torch"])
        self.state = state
        log.info("resumed %s at epoch %d", self.dir, state.epoch)
        return True


def _portable(config: dict[str, Any]) -> dict[str, Any]:
    """A run's settings without where it runs: a checkpoint resumes on another device (a run
    trained on torchrun ranks, cuda:<rank>, is finished or continued by one process)."""
    return {k: v for k, v in config.items() if k != "device"}


def read_run_config(run_dir: Path) -> TrainConfig:
    """The TrainConfig a `train run` folder was trained with."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        raise InputError(f"{run_dir}: no {CONFIG}; give a folder written by `train run`")
    cfg = json.loads(path.read_text())["config"]
    return TrainConfig(**cfg)
