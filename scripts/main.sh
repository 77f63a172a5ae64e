#!/usr/bin/env bash
# Set up (scripts/install.sh) and run the main job on FER-2013:
#   scripts/main.sh [path/to/fer2013.csv[.gz]]      (default: ../shared/datasets/fer2013/fer2013.csv.gz)
# Uses FiftyOne's embedded database unless FIFTYONE_DATABASE_URI is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
DATA=${1:-../shared/datasets/fer2013/fer2013.csv.gz}
if [ ! -e "$DATA" ]; then
  echo "main.sh: no FER-2013 at $DATA; pass the path of your fer2013.csv (see datasets/README.md)" >&2
  exit 2
fi
export FIFTYONE_DO_NOT_TRACK=true
CURATE=.venv/bin/curate
$CURATE ingest fer2013 "$DATA"
$CURATE status
echo
echo "Open the FiftyOne App on it:  .venv/bin/curate app   (then browse http://127.0.0.1:5151/)"
