"""Stage provenance and fingerprints: what ran, with which settings, on which samples.

A stage's fingerprint = its settings + the ids and the label (and, where the stage reads it,
exclusion) state of the samples it reads (docs/architecture.md). A stage whose last run has the same
fingerprint is skipped (a no-op re-run).
"""

from __future__ import annotations

import hashlib
import json
import platform
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from curate.core import store

# The stage names of the run history (`dataset.info["runs"]`): each defined here once.
INGEST = "ingest"
APPLY = "apply"
RESTORE = "restore"
SYNTH = "synth"
RESPLIT = "resplit"
BALANCE = "balance"
EXPORT = "export"
VOTES = "votes"  # curate votes import
ANNOTATE = "annotate"  # curate annotate: one record per task written
ANNOTATE_LABELSTUDIO = "annotate-labelstudio"  # one record per send to / load from Label Studio
CLEAN_PREFIX = "clean:"  # one record per check: `check_stage("labels")` = "clean:labels"


def check_stage(check: str) -> str:
    """The run-history stage of one `curate clean` check (duplicates, quality, labels)."""
    return f"{CLEAN_PREFIX}{check}"


PACKAGES = ("fer-curate", "fiftyone", "torch", "timm", "cleanlab", "diffusers", "imagehash",
            "spandrel", "transformers", "opencv-python-headless", "numpy", "pillow")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def fingerprint(settings: dict[str, Any], rows: Iterable[Iterable[Any]] = ()) -> str:
    """sha256 over the settings (as sorted JSON) and the per-sample state rows, in order."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for row in rows:
        h.update(("\x1f".join(map(str, row)) + "\n").encode())
    return h.hexdigest()


def sample_state(view: Any, *fields: str) -> list[tuple]:
    """(id, label, *fields) per sample of `view`, sorted by id: the usual input state.

    Exclusion is a decision made *after* the checks (`curate apply`), so it is part of a
    stage's state only when that stage reads it: pass "excluded" in `fields` (or select the
    view by it). Otherwise clean -> apply -> clean would never settle.
    """
    schema = view.get_field_schema()
    names = ["id", "ground_truth.label", *(f for f in fields if f.split(".")[0] in schema)]
    cols = view.values(names)
    return sorted(zip(*cols), key=lambda r: r[0])


@dataclass(frozen=True)
class Run:
    """A stage's last recorded run, read through one accessor (`last`). A stage that never ran
    gives an empty Run: falsy, with empty `config` and `counts`."""

    stage: str
    entry: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.entry)

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.entry.get("config") or {})

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.entry.get("counts") or {})

    @property
    def fingerprint(self) -> str | None:
        return self.entry.get("fingerprint")

    @property
    def finished_at(self) -> str:
        return str(self.entry.get("finished_at", "?"))

    def get(self, key: str, default: Any = None) -> Any:
        """Any other key the stage recorded with its run (e.g. restore's `check`)."""
        value = self.entry.get(key)
        return default if value is None else value


def history(ds: Any) -> dict[str, list[dict[str, Any]]]:
    """Every stage's recorded runs, oldest first."""
    return {k: v if isinstance(v, list) else [v] for k, v in (ds.info.get("runs") or {}).items()}


def last(ds: Any, stage: str) -> Run:
    """The stage's last recorded run (an empty Run when it never ran)."""
    runs = history(ds).get(stage) or []
    return Run(stage, dict(runs[-1]) if runs else {})


def is_done(ds: Any, stage: str, fp: str) -> bool:
    run = last(ds, stage)
    return bool(run) and run.fingerprint == fp and run.get("status", "done") == "done"


def record(ds: Any, stage: str, *, config: dict[str, Any], fp: str, counts: dict[str, Any],
           seconds: float, **extra: Any) -> None:
    """Record a finished run: config, package versions, fingerprint, counts, timings."""
    store.record_run(ds, stage, {"config": config, "fingerprint": fp, "counts": counts,
                                 "seconds": round(seconds, 3), "versions": package_versions(),
                                 "status": "done", **extra})
