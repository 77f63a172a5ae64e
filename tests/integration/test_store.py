"""The store adapter's defaults: FiftyOne telemetry is off however fiftyone gets imported."""

from __future__ import annotations

import os
import subprocess
import sys


def test_telemetry_off_even_when_a_fiftyone_submodule_is_imported_first():
    env = {k: v for k, v in os.environ.items() if k != "FIFTYONE_DO_NOT_TRACK"}
    code = ("from curate.core import store; store.check_database(); import fiftyone as fo; "
            "print(fo.config.do_not_track)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "True"
