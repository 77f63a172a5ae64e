"""Errors the tool knows about, and the one place that turns them into exit codes."""

from __future__ import annotations

import contextlib
import errno
import logging
import sys
from collections.abc import Iterator

import typer

log = logging.getLogger(__name__)


# pymongo's errors when the server went away mid-run (matched by name: no pymongo import here)
DATABASE_LOST = ("ServerSelectionTimeoutError", "AutoReconnect", "NetworkTimeout")


class CurateError(Exception):
    """An error with a one-line message for the user. Subclasses set the exit code."""

    exit_code = 1


class InputError(CurateError):
    """Bad user input: a path, a file layout, an option value."""

    exit_code = 2


class StoreError(CurateError):
    """The FiftyOne database is unreachable or the dataset is not what a stage needs."""

    exit_code = 3


class ModelError(CurateError):
    """Weights missing, corrupt, of the wrong architecture or failing their checksum."""

    exit_code = 4


class EngineError(CurateError):
    """The Ray engine could not start, or lost its cluster mid-stage (curate.core.engine)."""

    exit_code = 5


# OSErrors about the machine's storage rather than the tool: a one-line cause and fix, exit 2
# (input/output). Others stay "unknown" (exit 1).
_STORAGE = {
    errno.ENOSPC: "no space left on device{where}: free space there (or pass --workspace on "
                  "another disk) and re-run the same command: finished work is kept",
    errno.EDQUOT: "disk quota exceeded{where}: free space or raise the quota, then re-run",
    errno.EACCES: "permission denied{where}: check the file's owner and mode, or pass "
                  "--workspace to a folder you can write",
    errno.EROFS: "read-only file system{where}: pass --workspace to a writable folder",
}


def os_error_message(e: OSError) -> tuple[str, int]:
    """(one-line message, exit code) for an OSError that reached the CLI."""
    template = _STORAGE.get(e.errno or -1)
    if template is None:
        return f"{type(e).__name__}: {e} (re-run with --verbose for the traceback)", 1
    name = e.filename or (e.__cause__.filename if isinstance(e.__cause__, OSError) else None)
    return template.format(where=f" writing {name}" if name else ""), InputError.exit_code


@contextlib.contextmanager
def cli_errors(verbose: bool = False) -> Iterator[None]:
    """Map known errors to a one-line message and exit code; tracebacks only when verbose."""
    try:
        yield
    except CurateError as e:
        if verbose:
            log.exception("failed")
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(e.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: finished work is saved; re-run the same command to resume", err=True)
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except OSError as e:
        if verbose:
            raise
        message, code = os_error_message(e)
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(code) from None
    except Exception as e:  # unknown errors: one line, traceback with --verbose
        if verbose:
            raise
        if type(e).__name__ in DATABASE_LOST:
            typer.echo("error: the database stopped answering mid-run (its mongod process "
                       "exited); re-run the same command: finished work is saved and it resumes",
                       err=True)
            raise typer.Exit(StoreError.exit_code) from None
        typer.echo(f"error: {type(e).__name__}: {e} (re-run with --verbose for the traceback)",
                   err=True)
        raise typer.Exit(1) from None
    finally:
        sys.stderr.flush()
