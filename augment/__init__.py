"""Minority-class synthesis and classical augmentation, and the `augment` CLI (synth).

What a stage calls (lazily, inside a function: docs/architecture.md):

- `augment.classical`: `augment(image, seed)` -> (augmented copy, description), pure arrays;
  `seed_for(...)` derives a stable seed; `AugmentRecipe` (frozen, keyword-only) sets the ranges.
- `augment.synth`: `SynthConfig` and `synthesize(cfg)` -> `SynthReport` (the `augment synth`
  stage; also the pipeline's [synth] table).
"""
