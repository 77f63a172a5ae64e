"""`curate app`: the FiftyOne App on the dataset, with saved views for splits and issues."""

from __future__ import annotations

import logging
from typing import Any

from curate.core import store
from curate.core.issues import ensure_saved_views

log = logging.getLogger(__name__)


def launch(name: str, port: int = 5151, address: str = "127.0.0.1", wait: bool = True) -> Any:
    """Start the App server on the dataset (no browser is opened); returns the session."""
    ds = store.load_dataset(name)
    views = ensure_saved_views(ds)
    log.info("saved views: %s", ", ".join(views))
    session = store.fo().launch_app(ds, port=port, address=address, remote=True, auto=False)
    if wait:
        session.wait(-1)
    return session
