"""Where a dataset's files live: ./workspace/<dataset>/{media,runs,exports,reports}."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_dataset(cls, dataset: str, root: Path | None = None) -> Workspace:
        return cls((root or Path("workspace") / dataset).resolve())

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def reports(self) -> Path:
        return self.root / "reports"


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


# What open() gives a new file under this process's umask (0644 under the usual 022), so that
# another user of a shared workspace (a reviewer's App, a teammate's export) can read it.
FILE_MODE = _file_mode()


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path` to write to; on success it replaces `path`
    (`os.replace`), on error it is removed: readers never see a half-written file.

    `suffix` keeps the extension some writers insist on (`np.save` adds `.npy`, savefig infers
    the format): the temp name ends with it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".incomplete{suffix}",
                                dir=path.parent)
    os.fchmod(fd, FILE_MODE)  # mkstemp makes 0600; the file gets the mode open() would give it
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json_atomic(obj: Any, path: Path) -> Path:
    """Write JSON to `path` atomically."""
    return write_text_atomic(json.dumps(obj, indent=2, default=str) + "\n", path)


def write_text_atomic(text: str, path: Path) -> Path:
    """Write text to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in 4 MiB blocks (weights, models, inputs)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()
