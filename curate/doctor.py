"""`python -m curate.doctor`: check the installation (run by scripts/install.sh at its end)."""

from __future__ import annotations

import importlib
import sys


def checks() -> list[tuple[str, bool, str]]:
    out: list[tuple[str, bool, str]] = []

    def check(name: str, fn) -> None:
        try:
            out.append((name, True, str(fn() or "ok")))
        except Exception as e:  # report every failure, not just the first
            out.append((name, False, f"{type(e).__name__}: {e}"))

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
    for name, ok, msg in results:
        print(f"  [{'ok' if ok else 'FAIL'}] {name}: {msg}")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
