"""`python -m curate.doctor`: check the installation (run by scripts/install.sh at its end)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Check:
    """One installation check: what was tried, whether it worked, the version or the error."""

    name: str
    ok: bool
    message: str


def checks() -> list[Check]:
    """Every check, run even after a failure (the user fixes them all in one go)."""
    out: list[Check] = []

    def check(name: str, fn: Callable[[], Any]) -> None:
        try:
            out.append(Check(name, True, str(fn() or "ok")))
        except Exception as e:  # noqa: BLE001 - report every failure, not just the first
            out.append(Check(name, False, f"{type(e).__name__}: {e}"))

    for mod in ("torch", "torchvision", "timm", "diffusers", "cleanlab", "imagehash", "typer",
                "spandrel", "fiftyone"):
        check(f"import {mod}", lambda m=mod: getattr(importlib.import_module(m), "__version__", ""))
    check("cv2.CascadeClassifier", _cascade)
    check("import gfpgan", _gfpgan)
    check("FiftyOne database", _database)
    return out


def _cascade() -> str:
    import cv2

    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    if cv2.CascadeClassifier(path).empty():
        raise RuntimeError(f"cannot load {path}")
    return cv2.__version__


def _gfpgan() -> str:
    from importlib.metadata import version

    from curate.core.compat import import_gfpgan

    import_gfpgan()
    return version("gfpgan")


def _database() -> str:
    from curate.core import store

    where = store.check_database()
    store.fo().list_datasets()
    return where


def main() -> int:
    results = checks()
    for c in results:
        print(f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.message}")  # a script: it prints
    return 0 if all(c.ok for c in results) else 1


if __name__ == "__main__":
    sys.exit(main())
