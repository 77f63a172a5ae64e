"""The one place that maps errors to exit codes and one-line messages."""

from __future__ import annotations

import errno
import os

import typer
from typer.testing import CliRunner

from curate.core.errors import InputError, StoreError, cli_errors, os_error_message


def _app(exc: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def boom() -> None:
        with cli_errors(False):
            raise exc

    return app


def _run(exc: BaseException) -> tuple[int, str]:
    r = CliRunner().invoke(_app(exc), [])
    return r.exit_code, r.output


def test_full_disk_names_the_path_and_the_fix_with_the_input_output_code():
    code, out = _run(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/ws/media/0001.png"))
    assert code == 2
    assert "no space left on device writing /data/ws/media/0001.png" in out
    assert "free space" in out and "re-run" in out and "Errno" not in out


def test_the_path_is_found_on_the_cause_too():
    outer = OSError(errno.ENOSPC, "No space left on device")
    outer.__cause__ = OSError(errno.ENOSPC, "No space left on device", "/tmp/x.png")
    assert "writing /tmp/x.png" in os_error_message(outer)[0]


def test_other_os_errors_stay_unknown_and_known_errors_keep_their_codes():
    code, out = _run(OSError(errno.EIO, "I/O error"))
    assert code == 1 and "OSError" in out and "--verbose" in out
    assert _run(InputError("bad --radius"))[0] == 2
    assert _run(StoreError("no database"))[0] == 3
    code, out = _run(KeyboardInterrupt())
    assert code == 130 and "resume" in out
