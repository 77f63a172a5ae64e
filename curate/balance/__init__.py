"""`curate balance`: per-class train targets by undersampling, classical augmentation and
synthetic images (a plan first, applied on confirmation), and grouped stratified re-splits.
plan.py holds the pure planner, stage.py the dataset side, commands.py the CLI."""
