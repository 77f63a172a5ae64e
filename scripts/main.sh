#!/usr/bin/env bash
# Set up (scripts/install.sh) and run the main job: the whole recipe on FER-2013 with the CPU
# profile (pipelines/fer2013-cpu.toml): ingest, clean, apply, restore, synth (skipped without a
# model), balance, export raw + curated, compare backbones (raw, curated, robust baselines); then one report (~2 h on 2 cores).
#   scripts/main.sh [path/to/fer2013.csv[.gz]]   (default: ../shared/datasets/fer2013/fer2013.csv.gz)
# Re-running skips what is already done. Uses FiftyOne's embedded database unless
# FIFTYONE_DATABASE_URI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export FIFTYONE_DO_NOT_TRACK=${FIFTYONE_DO_NOT_TRACK:-true}
CURATE=.venv/bin/curate
CONFIG=pipelines/fer2013-cpu.toml
if [ $# -ge 1 ]; then
  # your own copy: ingest it, then run every later stage of the pipeline
  $CURATE ingest fer2013 "$1"
  $CURATE pipeline --config "$CONFIG" --from clean
elif [ -e ../shared/datasets/fer2013/fer2013.csv.gz ]; then
  $CURATE pipeline --config "$CONFIG"
else
  echo "main.sh: no FER-2013 found; pass the path of your fer2013.csv (see datasets/README.md)" >&2
  exit 2
fi
$CURATE status
