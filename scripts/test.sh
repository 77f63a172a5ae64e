#!/usr/bin/env bash
# Set up (scripts/install.sh), run the static checks (scripts/lint.sh), then the test suite.
# Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1
export FIFTYONE_DO_NOT_TRACK=true
bash scripts/browser.sh
bash scripts/label-studio.sh install || echo "[test] Label Studio could not be installed: tests/integration/test_labelstudio.py will skip" >&2
echo "[test] static checks: ruff, mypy (scripts/lint.sh)"
bash scripts/lint.sh || { echo "test.sh: static checks failed" >&2; exit 1; }
.venv/bin/python -m pytest -p no:warnings -q "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; failing" >&2
  exit 1
fi
exit "$rc"
