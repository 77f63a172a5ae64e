"""`python -m train`: the `train` CLI (what `--nproc` launches on each torchrun rank)."""

from train.cli import app

app()
