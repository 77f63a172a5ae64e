"""`curate app`: the FiftyOne App on the dataset, with saved views for splits and issues."""

from __future__ import annotations

import logging
from typing import Any

from curate import store

log = logging.getLogger(__name__)

ISSUE_KINDS = ("duplicate", "leak", "conflict", "lowinfo", "dark", "light", "blurry", "nonface",
               "label", "outlier", "near_duplicate", "restore_changed")


def ensure_saved_views(ds: Any) -> list[str]:
    """Saved views per split and per issue tag present (named as the tags: `issue:<kind>`)."""
    f = store.fo()
    wanted: dict[str, Any] = {}
    for split in sorted(set(ds.distinct("split"))):
        wanted[f"split:{split}"] = ds.match(f.ViewField("split") == split)
    tags = ds.count_sample_tags()
    for kind in ISSUE_KINDS:
        if tags.get(f"issue:{kind}"):
            wanted[f"issue:{kind}"] = ds.match_tags(f"issue:{kind}")
    existing = set(ds.list_saved_views())
    for name, view in wanted.items():
        if name in existing:
            ds.update_saved_view_info(name, {"description": f"{len(view)} samples"})
            continue
        ds.save_view(name, view, description=f"{len(view)} samples")
    return sorted(wanted)


def launch(name: str, port: int = 5151, address: str = "127.0.0.1", wait: bool = True) -> Any:
    """Start the App server on the dataset (no browser is opened); returns the session."""
    ds = store.load_dataset(name)
    views = ensure_saved_views(ds)
    log.info("saved views: %s", ", ".join(views))
    session = store.fo().launch_app(ds, port=port, address=address, remote=True, auto=False)
    if wait:
        session.wait(-1)
    return session
