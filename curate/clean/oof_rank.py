"""One torchrun rank of `curate clean --nproc N`'s out-of-fold training
(`curate.clean.oof._train_on_ranks`): `python -m curate.clean.oof_rank -- WORK` trains this
rank's shard of every batch of every fold; rank 0 writes each fold's checkpoints into
`WORK/fold_<k>`, which the one-process pass then resumes and predicts with. A module of its own
so that running it does not import it twice (the package imports `oof`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from curate.clean.oof import (
    RANK_CONFIG,
    RANK_INPUT,
    OofConfig,
    effective_folds,
    fold_indices,
    fold_trainer,
)


def rank_main(work: Path) -> None:
    """Train each fold's shard of every batch on this rank."""
    from train import distributed
    from train.data import ImageSet

    spec = json.loads((work / RANK_CONFIG).read_text())
    cfg = OofConfig(**spec["config"])
    with np.load(work / RANK_INPUT) as z:
        images, labels, groups = z["images"], z["labels"], z["groups"]
    data = ImageSet(images=images, labels=labels, splits=np.full(len(labels), "train"),
                    ids=[str(i) for i in range(len(labels))],
                    groups=groups if len(groups) else None, classes=tuple(spec["classes"]))
    with distributed.session(cfg.device) as (rank, device):
        rcfg = replace(cfg, device=device)
        folds = effective_folds(data.labels, cfg.folds, data.classes)
        for k, held in enumerate(fold_indices(data.labels, data.groups, folds, cfg.seed)):
            trainer = fold_trainer(data, rcfg, k, held, work / f"fold_{k}", rank.main)
            trainer.resume()
            trainer.fit()


if __name__ == "__main__":
    rank_main(Path(next(a for a in sys.argv[1:] if a != "--")))
