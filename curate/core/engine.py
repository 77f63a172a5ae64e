"""Where a stage's per-image work runs: `local` (this process) or `ray` (Ray Data actor pools).

A stage that supports both writes its work as a batch function over rows of (id, path, ...)
columns. The local engine calls it in this process; `ray_map` runs it as a Ray Data
`map_batches` over a pool of actors (the callable class is built once per actor, so a model is
loaded once per actor; `num_gpus` per actor on a GPU box) and yields the result batches back to
the driver, which writes them to FiftyOne in bulk exactly as the local engine does. Workers
never write to the database, so a killed worker is retried by Ray (actor restarts and task
retries) and a killed driver leaves the store as the local engine would: a re-run resumes.

Cluster: a local one with `workers` CPUs by default, started for the stage and shut down after
it; an existing one when `RAY_ADDRESS` is set (docs/scale.md). Ray's usage statistics are off
unless the user turned them on (RAY_USAGE_STATS_ENABLED), and its dashboard is not started.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from curate.core.errors import EngineError, InputError

log = logging.getLogger(__name__)

LOCAL, RAY = "local", "ray"
ENGINES = (LOCAL, RAY)  # the CLI's --engine choices
BLOCK_BATCHES = 16  # batches per Ray block: blocks hold whole batches, so batches match local


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise InputError(f"--engine {name!r}: choose one of {', '.join(ENGINES)}")
    return name


@contextlib.contextmanager
def ray_session(workers: int) -> Iterator[Any]:
    """Ray, initialised for this stage: the cluster at RAY_ADDRESS, else a local one with
    `workers` CPUs (started here and shut down on the way out)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before ray is imported
    try:
        import ray
        from ray.data import DataContext
    except ImportError as e:
        raise EngineError(f"--engine ray needs Ray Data ({e}); install 'ray[data]'") from None
    started = not ray.is_initialized()
    if started:
        opts: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                "logging_level": "WARNING"}
        if not os.environ.get("RAY_ADDRESS"):
            opts["num_cpus"] = workers
        try:
            ray.init(**opts)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = os.environ.get("RAY_ADDRESS") or "a local cluster"
            raise EngineError(f"the Ray engine could not start ({where}): {e}") from None
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False  # the stage's own bar counts the rows that come back
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _blocks(rows: dict[str, np.ndarray], batch_size: int, workers: int) -> list[Any]:
    """The rows as pandas blocks of whole batches, in order (a batch never spans two blocks, so
    the batches the actors see are the local engine's batches): up to BLOCK_BATCHES batches a
    block, fewer when that gives every worker a block."""
    import pandas as pd

    n = len(next(iter(rows.values()))) if rows else 0
    batches = -(-n // batch_size)
    step = batch_size * max(1, min(BLOCK_BATCHES, batches // max(1, workers)))
    return [pd.DataFrame({k: v[i:i + step] for k, v in rows.items()}) for i in range(0, n, step)]


def ray_map(rows: dict[str, np.ndarray], fn: type, kwargs: dict[str, Any], *, batch_size: int,
            workers: int, num_gpus: float = 0.0) -> Iterator[dict[str, np.ndarray]]:
    """`fn(**kwargs)` built once per actor, called on numpy batches of `rows`; yields its result
    batches as they finish (in no fixed order: results carry their ids).

    `workers` actors, each holding one CPU (and `num_gpus` GPUs). An actor that dies is
    restarted and its batch retried.
    """
    n = len(next(iter(rows.values()))) if rows else 0
    if n == 0:
        return
    with ray_session(workers) as ray:
        ds = ray.data.from_pandas(_blocks(rows, batch_size, workers))
        out = ds.map_batches(
            fn, fn_constructor_kwargs=kwargs, batch_size=batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1, num_gpus=num_gpus)
        # (Ray Data's actor pools restart dead actors and retry their batches by default:
        # max_restarts=-1, max_task_retries=-1; the killed-worker test holds it to that)
        try:
            yield from out.iter_batches(batch_size=None, batch_format="numpy")
        except ray.exceptions.RayError as e:
            raise EngineError(f"the Ray engine failed: {str(e).splitlines()[0]}") from None
        _wait_for_cpus(ray, workers)


def _wait_for_cpus(ray: Any, cpus: int, timeout: float = 10.0) -> None:
    """Until the finished pool's actors have given their CPUs back (Ray tears them down
    asynchronously): the next map in the same session (restore, then its check) would otherwise
    start with fewer actors than it asked for and keep them."""
    end = time.monotonic() + timeout
    while ray.available_resources().get("CPU", 0) < cpus and time.monotonic() < end:
        time.sleep(0.05)
