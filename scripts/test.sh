#!/usr/bin/env bash
# Set up (scripts/install.sh) and run the test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1
export FIFTYONE_DO_NOT_TRACK=true
.venv/bin/python -m pytest -p no:warnings -q "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; failing" >&2
  exit 1
fi
exit "$rc"
