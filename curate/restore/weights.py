"""GFPGAN weights: a known-checksum registry, a cache dir, sha256 verification, opt-in download.

Nothing is downloaded unless the caller asks (`download=True`, the CLI's `--download`). A file
named in the registry must match its published sha256; any other file is accepted but marked
unverified, and its sha256 is recorded with the run.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from curate.core.errors import ModelError
from curate.core.workspace import atomic_path, sha256_file

log = logging.getLogger(__name__)

CACHE_ENV = "FER_CURATE_CACHE"
DEFAULT_MODEL = "GFPGANv1.4"
_RELEASES = "https://github.com/TencentARC/GFPGAN/releases/download"


@dataclass(frozen=True)
class KnownWeights:
    name: str
    filename: str
    url: str
    sha256: str | None  # None: no trustworthy published value; the file is then unverified
    size: int | None = None


# The official TencentARC releases (Apache-2.0). sha256 values as pinned independently by several
# public projects (AUR's gfpgan PKGBUILD, stable-diffusion installers, ComfyUI ReActor, ...); both
# files are 348,632,874 bytes.
REGISTRY: dict[str, KnownWeights] = {
    "GFPGANv1.3": KnownWeights(
        "GFPGANv1.3", "GFPGANv1.3.pth", f"{_RELEASES}/v1.3.0/GFPGANv1.3.pth",
        "c953a88f2727c85c3d9ae72e2bd4846bbaf59fe6972ad94130e23e7017524a70", 348_632_874),
    "GFPGANv1.4": KnownWeights(
        "GFPGANv1.4", "GFPGANv1.4.pth", f"{_RELEASES}/v1.3.4/GFPGANv1.4.pth",
        "e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad", 348_632_874),
}


@dataclass(frozen=True)
class WeightsFile:
    """A weights file on disk with its sha256; `name` is the registry entry it matched, if any."""

    path: Path
    sha256: str
    name: str | None

    @property
    def verified(self) -> bool:
        return self.name is not None


def cache_dir(override: Path | None = None) -> Path:
    """`override`, else $FER_CURATE_CACHE/weights, else ~/.cache/fer-curate/weights."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    base = Path(env).expanduser() if env else Path.home() / ".cache" / "fer-curate"
    return base / "weights"


def _by_sha(sha: str) -> KnownWeights | None:
    return next((k for k in REGISTRY.values() if k.sha256 == sha), None)


def verify(path: Path, expected: KnownWeights | None = None) -> WeightsFile:
    """Hash `path`; a registry file must match its sha256 (mismatch names both hashes)."""
    if not path.is_file():
        raise ModelError(f"weights file {path} does not exist; pass an existing file to --weights")
    got = sha256_file(path)
    if expected is None:  # a file named by the user: match it against the registry by hash
        expected = next((k for k in REGISTRY.values() if k.filename == path.name), None)
        if expected is None or expected.sha256 != got:
            known = _by_sha(got)
            if known is not None:
                return WeightsFile(path, got, known.name)
            if expected is None or expected.sha256 is None:
                log.warning("%s is not a known GFPGAN release (sha256 %s): unverified weights",
                            path, got)
                return WeightsFile(path, got, None)
    if expected.sha256 is None:
        log.warning("%s: no published sha256 for %s; recorded %s, unverified", path,
                    expected.name, got)
        return WeightsFile(path, got, None)
    if got != expected.sha256:
        raise ModelError(
            f"checksum mismatch for {path}: sha256 {got}, expected {expected.sha256} "
            f"({expected.name}); the file is corrupt or incomplete: delete it and fetch "
            f"{expected.url} again (or run with --download)")
    return WeightsFile(path, got, expected.name)


def download(known: KnownWeights, dest: Path) -> Path:
    """Fetch `known.url` to `dest` through a temp name beside it (`atomic_path`), verifying
    the sha256: a failed or corrupt download leaves nothing at `dest`."""
    log.info("downloading %s -> %s", known.url, dest)
    with atomic_path(dest) as tmp:
        got = _fetch(known.url, tmp, dest)
        if known.sha256 is not None and got != known.sha256:
            raise ModelError(f"checksum mismatch for the download of {known.url}: sha256 {got}, "
                             f"expected {known.sha256}; nothing was saved, try again later")
    return dest


def _fetch(url: str, tmp: Path, dest: Path) -> str:
    """Stream `url` into `tmp`; returns its sha256."""
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as fh:
            for block in iter(lambda: resp.read(1 << 20), b""):
                h.update(block)
                fh.write(block)
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):  # the disk, not the download: say where
            raise OSError(e.errno, e.strerror, str(dest)) from e
        raise ModelError(f"could not download {url} ({e}); fetch it by hand into "
                         f"{dest} and re-run without --download") from None
    return h.hexdigest()


def resolve(weights: Path | None = None, model: str = DEFAULT_MODEL, cache: Path | None = None,
            allow_download: bool = False) -> WeightsFile:
    """The weights to use: `weights` if given, else the cached registry file (downloaded if asked).

    Without weights and without `allow_download`: a one-line ModelError saying what to fetch
    and where to put it.
    """
    if weights is not None:
        return verify(Path(weights).expanduser())
    known = REGISTRY.get(model)
    if known is None:
        raise ModelError(f"unknown GFPGAN model {model!r}; choose one of "
                         f"{', '.join(REGISTRY)} or pass --weights PATH")
    path = cache_dir(cache) / known.filename
    if not path.is_file():
        if not allow_download:
            raise ModelError(
                f"GFPGAN weights not found: download {known.url} to {path} (or re-run with "
                "--download, or pass --weights PATH)")
        download(known, path)
    return verify(path, known)
