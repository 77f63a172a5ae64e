#!/usr/bin/env bash
# Static checks CI runs before the tests: ruff on everything, mypy on the core (pyproject.toml).
set -uo pipefail
cd "$(dirname "$0")/.."
rc=0
.venv/bin/ruff check curate train augment tests bench || rc=1
.venv/bin/mypy || rc=1
exit "$rc"
