"""Training on arrays, and the `train` CLI (run, eval, compare).

What a stage calls (always lazily, inside a function: docs/architecture.md); everything else in
this package is an implementation detail that may change:

- `train.data`: `ImageSet` (images, labels, splits, ids, groups, soft targets), `from_view` and
  `from_folder` to load one into memory.
- `train.loop`: `TrainConfig` (frozen, keyword-only) and `Trainer(cfg, train, val,
  run_dir).fit()` -> `FitResult` (resumable with `Trainer.resume()`, its `TrainState` saved in
  `last.pt`).
- `train.model`: `create_model(cfg)`, `load_weights`; `predict(model, images)` -> (N, classes)
  probabilities; `embed(model, images)` -> (N, features) pooled features.
- `train.metrics`: `evaluate(probs, labels, classes)` -> `Metrics`, and its parts.
- `train.reference`: `save_reference` / `load_reference` -> `ReferenceClassifier` (the
  dataset's reference model that restore and synthesis check against), `reference_dir`.

The CLI's commands are one library call each: `train.run.run_training` -> `TrainResult`,
`train.evaluate.eval_run` -> `EvalResult`, `train.compare.run_compare` -> `CompareResult`.
"""
