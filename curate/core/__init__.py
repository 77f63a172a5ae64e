"""The core every stage, `train` and `augment` build on; it imports no stage.

store (the one FiftyOne adapter), schema (every field, tag, view and selection name), views
(raw / curated), runs (provenance and fingerprints), workspace (paths, atomic writes), errors
(exit codes), progress, imageio, hashing, taxonomy, clikit (the CLIs' global options).
"""
