"""`train eval`: score a finished run on one split of the dataset, against a chosen label field,
and write its predictions back to FiftyOne (with `evaluate_classifications`, so the App's
evaluation panel shows them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.core import schema, store
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES, SPLITS
from curate.core.workspace import write_json_atomic
from train.data import from_view
from train.loop import BEST, read_run_config
from train.metrics import Metrics, evaluate
from train.model import create_model, load_weights, predict

log = logging.getLogger(__name__)

# The label fields a run can be scored against (the `--label-field` choices).
LABEL_FIELDS = (schema.LABEL, schema.FERPLUS_LABEL, schema.ORIG_LABEL)


@dataclass(frozen=True, kw_only=True)
class EvalResult:
    """A scored run: where its predictions went and the metrics (`to_dict`: the eval JSON)."""

    run: str
    split: str
    label_field: str
    pred_field: str
    eval_key: str
    metrics: Metrics

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "split": self.split, "label_field": self.label_field,
                "pred_field": self.pred_field, "eval_key": self.eval_key, **self.metrics}


def field_key(run_dir: Path) -> str:
    """A field-safe name for a run folder (predictions `pred_<key>`, eval key `eval_<key>`)."""
    key = re.sub(r"[^0-9a-zA-Z_]", "_", Path(run_dir).resolve().name).strip("_").lower()
    return key or "run"


def load_run_model(run_dir: Path, device: str = "cpu"):  # noqa: ANN201
    """(TrainConfig, model with the run's best weights in eval mode on `device`)."""
    cfg = read_run_config(run_dir)
    if not (Path(run_dir) / BEST).is_file():
        raise InputError(f"{run_dir}: no {BEST}; the run has not finished an epoch")
    model = create_model(cfg)
    load_weights(model, Path(run_dir) / BEST)
    return cfg, model.to(device).eval()


def eval_run(run_dir: Path, dataset: str, *, split: str = "test",
             label_field: str = schema.LABEL, device: str = "cpu",
             progress: bool = False) -> EvalResult:
    """Predict `split` of the dataset with the run's best weights, score, write back."""
    if split not in SPLITS:
        raise InputError(f"--split {split!r}: use {', '.join(SPLITS)}")
    cfg, model = load_run_model(run_dir, device)
    ds = store.load_dataset(dataset)
    view = ds.match({schema.SPLIT: split})
    if not len(view):
        raise InputError(f"split {split!r} of dataset {dataset!r} is empty")
    data = from_view(view, label_field, cfg.img_size, cfg.in_chans, progress=progress,
                     splits=(split,))
    probs = predict(model, data.images, device=device, tta_flip=cfg.tta_flip)
    key = field_key(run_dir)
    result = EvalResult(run=str(run_dir), split=split, label_field=label_field,
                        pred_field=f"pred_{key}", eval_key=f"eval_{key}",
                        metrics=evaluate(probs, data.labels, data.classes))
    f = store.fo()
    ds.set_values(result.pred_field, {
        i: f.Classification(label=CLASSES[int(p.argmax())], confidence=float(p.max()))
        for i, p in zip(data.ids, probs, strict=False)}, key_field="id")
    gt = label_field.split(".")[0]
    if gt == schema.ORIG_LABEL:
        log.info("%s is not a Classification: FiftyOne evaluation skipped", schema.ORIG_LABEL)
    else:
        if result.eval_key in ds.list_evaluations():
            ds.delete_evaluation(result.eval_key)
        store.subset(ds, data.ids).evaluate_classifications(
            result.pred_field, gt_field=gt, eval_key=result.eval_key)
    write_json_atomic(result.to_dict(), Path(run_dir) / f"eval-{split}-{gt}.json")
    return result
