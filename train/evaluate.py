"""`train eval`: score a finished run on one split of the dataset, against a chosen label field,
and write its predictions back to FiftyOne (with `evaluate_classifications`, so the App's
evaluation panel shows them).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from curate.core import store
from curate.core.errors import InputError
from curate.core.taxonomy import CLASSES
from curate.core.workspace import write_json_atomic
from train.data import from_view
from train.loop import BEST, create_model, load_weights, predict, read_run_config
from train.metrics import evaluate

log = logging.getLogger(__name__)


def field_key(run_dir: Path) -> str:
    """A field-safe name for a run folder (predictions `pred_<key>`, eval key `eval_<key>`)."""
    key = re.sub(r"[^0-9a-zA-Z_]", "_", Path(run_dir).resolve().name).strip("_").lower()
    return key or "run"


def load_run_model(run_dir: Path, device: str = "cpu"):  # noqa: ANN201
    cfg = read_run_config(run_dir)
    if not (Path(run_dir) / BEST).is_file():
        raise InputError(f"{run_dir}: no {BEST}; the run has not finished an epoch")
    model = create_model(cfg)
    load_weights(model, Path(run_dir) / BEST)
    return cfg, model.to(device).eval()


def eval_run(run_dir: Path, dataset: str, *, split: str = "test",
             label_field: str = "ground_truth", device: str = "cpu",
             progress: bool = False) -> dict[str, Any]:
    """Predict `split` of the dataset with the run's best weights, score, write back."""
    cfg, model = load_run_model(run_dir, device)
    ds = store.load_dataset(dataset)
    view = ds.match({"split": split})
    if not len(view):
        raise InputError(f"split {split!r} of dataset {dataset!r} is empty")
    data = from_view(view, label_field, cfg.img_size, cfg.in_chans, progress=progress,
                     splits=(split,))
    probs = predict(model, data.images, device=device, tta_flip=cfg.tta_flip)
    metrics = evaluate(probs, data.labels, data.classes)
    key = field_key(run_dir)
    pred_field, eval_key = f"pred_{key}", f"eval_{key}"
    f = store.fo()
    ds.set_values(pred_field, {i: f.Classification(label=CLASSES[int(p.argmax())],
                                                   confidence=float(p.max()))
                               for i, p in zip(data.ids, probs, strict=False)}, key_field="id")
    gt = label_field if "." not in label_field else label_field.split(".")[0]
    if gt == "orig_label":
        log.info("orig_label is not a Classification: FiftyOne evaluation skipped")
    else:
        if eval_key in ds.list_evaluations():
            ds.delete_evaluation(eval_key)
        ds.select(data.ids).evaluate_classifications(pred_field, gt_field=gt, eval_key=eval_key)
    out = {"run": str(run_dir), "split": split, "label_field": label_field,
           "pred_field": pred_field, "eval_key": eval_key, **metrics}
    write_json_atomic(out, Path(run_dir) / f"eval-{split}-{gt}.json")
    return out
