"""`train`: timm backbones on curated vs raw data. Global options as in `curate`."""

from __future__ import annotations

from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from curate.core import options
from curate.core.clikit import Device, NProc, global_options, pick_device, state
from curate.core.errors import cli_errors
from curate.core.taxonomy import CLASSES, SPLITS
from curate.core.views import ViewName
from curate.core.workspace import Workspace
from train.compare import CompareResult, CompareSettings
from train.evaluate import LABEL_FIELDS
from train.loop import MONITORS, SCHEDULES
from train.metrics import Metrics

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(global_options)
console = Console()

# Closed choices, generated from the registries they name (one list each, in the library).
Schedule = Enum("Schedule", {s: s for s in SCHEDULES}, type=str)
LabelField = Enum("LabelField", {f: f for f in LABEL_FIELDS}, type=str)
Monitor = Enum("Monitor", {m: m for m in MONITORS}, type=str)
Split = Enum("Split", {s: s for s in SPLITS}, type=str)

Seed = Annotated[int, typer.Option(help="Seed of every RNG.")]


def _torchrun(nproc: int, batch_size: int) -> None:
    """With --nproc N > 1, outside torchrun: run this very command on N ranks and exit with
    its code (train/distributed.py); inside a rank, or with N = 1, return and go on."""
    import sys

    from train import distributed

    distributed.check_share(nproc, batch_size)
    if nproc > 1 and not distributed.launched():
        raise typer.Exit(distributed.launch(nproc, "train", sys.argv[1:]))


def _ws(ctx: typer.Context) -> Workspace:
    st = state(ctx)
    return Workspace.for_dataset(st.dataset, st.workspace)


def _metrics_table(title: str, m: Metrics) -> Table:
    t = Table("class", "precision", "recall", "F1", "support", title=title)
    for c in CLASSES:
        pc = m["per_class"][c]
        t.add_row(c, f"{pc['precision']:.3f}", f"{pc['recall']:.3f}", f"{pc['f1']:.3f}",
                  str(pc["support"]))
    return t


@app.command()
def run(
    ctx: typer.Context,
    data: Annotated[Path | None, typer.Option(help="An export <split>/<class>/*.")] = None,
    view: Annotated[ViewName | None, typer.Option(help="Or a view of the dataset.")] = None,
    backbone: Annotated[str, typer.Option(help="Any timm model name.")] = "resnet18",
    epochs: int = 30,
    img_size: Annotated[int, typer.Option(help="Input side in pixels.")] = 48,
    in_chans: Annotated[int, typer.Option(help="1 grayscale, 3 RGB.")] = 1,
    batch_size: int = 128,
    lr: float = 2e-3,
    schedule: Schedule = Schedule["onecycle"],
    patience: Annotated[int, typer.Option(help="Early stop after N flat epochs (0 off).")] = 8,
    monitor: Annotated[Monitor, typer.Option(
        help="The val score that picks the best epoch.")] = Monitor["macro_f1"],
    pretrained: Annotated[Path | None, typer.Option(help="Local timm weights file.")] = None,
    freeze_epochs: Annotated[int, typer.Option(help="Epochs with a frozen backbone first.")] = 0,
    seed: Seed = 0,
    device: Device = "auto",
    out: Annotated[Path | None, typer.Option(help="Run folder [default: runs/<name>].")] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the run folder's last.pt.")] = True,
    nproc: NProc = 1,
) -> None:
    """Train one backbone and score it on the test split."""
    from train import distributed
    from train.loop import TrainConfig
    from train.run import DataSource, run_training

    st = state(ctx)
    with cli_errors(st.verbose), distributed.session(pick_device(device)) as (rank, dev):
        _torchrun(nproc, batch_size)
        src = DataSource(folder=data, view=view.value if view else None, dataset=st.dataset)
        cfg = TrainConfig(backbone=backbone, img_size=img_size, in_chans=in_chans, epochs=epochs,
                          batch_size=batch_size, lr=lr, schedule=schedule.value,
                          patience=patience, monitor=monitor.value, seed=seed, device=dev,
                          pretrained=str(pretrained) if pretrained else None,
                          freeze_epochs=freeze_epochs)
        name = (data.name if data else view.value) if (data or view) else "run"
        out = out or _ws(ctx).runs / f"{name}-{backbone}-s{seed}"
        r = run_training(src, cfg, out, progress=st.progress, resume=resume)
    if r is None:  # a torchrun rank other than 0: rank 0 reports
        return
    t, c = r.test, r.cost
    console.print(_metrics_table(f"{backbone} on {r.source}: test", t))
    console.print(f"accuracy {100 * t['accuracy']:.2f}%  macro-F1 {100 * t['macro_f1']:.2f}%  "
                  f"ECE {100 * t['ece']:.2f}%  log-loss {t['log_loss']:.3f}  best epoch "
                  f"{r.best_epoch}  train {c['train_seconds']:.0f} s "
                  f"({c['images_per_s']:.0f} img/s)  params {c['params']:,}  "
                  f"{c['inference_ms_per_image']:.2f} ms/image")
    console.print(f"run: {out}")


@app.command("eval")
def eval_cmd(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Option("--run", help="A folder written by `train run`.")],
    split: Split = Split["test"],
    label_field: LabelField = LabelField[LABEL_FIELDS[0]],
    device: Device = "auto",
) -> None:
    """Score a run on a split of the dataset; predictions go back to FiftyOne."""
    from train.evaluate import eval_run

    st = state(ctx)
    with cli_errors(st.verbose):
        r = eval_run(run_dir, st.dataset, split=split.value, label_field=label_field.value,
                     device=pick_device(device), progress=st.progress)
    m = r.metrics
    console.print(_metrics_table(f"{run_dir.name} on {r.split} vs {r.label_field}", m))
    console.print(f"accuracy {100 * m['accuracy']:.2f}%  macro-F1 {100 * m['macro_f1']:.2f}%  "
                  f"ECE {100 * m['ece']:.2f}%  ({m['n']} images) -> field {r.pred_field}, "
                  f"evaluation {r.eval_key}")


def _compare(ctx: typer.Context, cfg: CompareSettings, nproc: int) -> None:
    """Same backbones, budget and seeds on each variant; Markdown + HTML report. Variants
    `raw+smooth`, `raw+gce`, `raw+scn` are robust-training baselines on raw."""
    from train import distributed
    from train.compare import run_compare

    with cli_errors(state(ctx).verbose), distributed.session(cfg.device) as (rank, dev):
        _torchrun(nproc, cfg.batch_size)
        r = run_compare(replace(cfg, device=dev))
    if rank.main:  # under torchrun, rank 0 reports
        _compare_summary(r)


def _compare_summary(r: CompareResult) -> None:
    for block in r.summary["splits"]:
        rows = block["table"]
        metrics = [m for m in (rows[0]["scores"] if rows else {}) if "without" not in m]
        split = block["truth"]["split"]
        t = Table("backbone", "variant", "seeds", *(f"{m} %" for m in metrics),
                  title=f"{split}{' (dev figure)' if split != 'test' else ''}, mean ± std")
        for row in rows:
            t.add_row(row["backbone"], row["variant"], str(row["seeds"]),
                      *(f"{100 * row['scores'][m][0]:.1f} ± {100 * row['scores'][m][1]:.1f}"
                        for m in metrics))
        console.print(t)
    console.print(f"report: {r.markdown} and {r.html}")


app.command("compare")(options.command(CompareSettings, _compare, extra={"nproc": (NProc, 1)}))
