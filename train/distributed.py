"""Training on several processes: torch's own launcher (torchrun) and DDP.

`train run --nproc N` (N > 1) re-runs the same command under `torch.distributed.run
--standalone --nproc-per-node N` (one machine; for several, run torchrun yourself with
`--nnodes`/`--rdzv-endpoint`, docs/scale.md). Each rank then joins the process group (gloo on
the CPU, NCCL on CUDA, one GPU per rank), loads the data, and trains its shard of every global
batch: rows `rank::world` of the batch the 1-process run would take, so the global batch, the
seed and the shuffling are the same as with one process and DDP's gradient average is that
batch's. Only rank 0 writes (checkpoints, metrics, predictions, reports, printing).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from curate.core.errors import InputError


@dataclass(frozen=True)
class Rank:
    """This process's place in the run: rank 0 of 1 when not launched by torchrun."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def launched() -> bool:
    """Whether torchrun started this process (it sets these for every rank)."""
    return "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ


def current() -> Rank:
    """The rank of this process in the initialised process group, else Rank()."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return Rank()
    return Rank(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def check_share(nproc: int, batch_size: int) -> None:
    """Each of `nproc` processes takes an equal share of every batch: InputError otherwise."""
    if nproc < 1 or batch_size % nproc:
        raise InputError(f"--nproc {nproc}: give at least 1, dividing the batch size "
                         f"{batch_size} evenly (each process takes an equal share of a batch)")


def launch(nproc: int, module: str, argv: list[str]) -> int:
    """Run `python -m module argv` on `nproc` local ranks through torchrun; its exit code
    (`check_share` first)."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", "-m", module, "--", *argv]  # "--": argv is not torchrun's
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get(
        "OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))}
    return subprocess.run(cmd, env=env, check=False).returncode


@contextlib.contextmanager
def session(device: str) -> Iterator[tuple[Rank, str]]:
    """The process group for a torchrun rank (nothing when not launched); yields the rank and
    its device (cuda:<local rank> on a GPU box)."""
    if not launched() or int(os.environ["WORLD_SIZE"]) < 2:
        yield Rank(), device
        return
    import torch
    import torch.distributed as dist

    local = int(os.environ["LOCAL_RANK"])
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield current(), device
    finally:
        dist.destroy_process_group()


def barrier() -> None:
    """Wait for every rank (nothing when not distributed)."""
    if current().active:
        import torch.distributed as dist

        dist.barrier()


def broadcast(obj: object) -> object:
    """Rank 0's `obj` on every rank (picklable; `obj` itself when not distributed)."""
    if not current().active:
        return obj
    import torch.distributed as dist

    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
