"""`curate app`: the FiftyOne App on the dataset, with saved views for splits and issues and
this project's review plugin (`curate/app/plugins/review`: the label-audit panel, the review
operators, the answering mode's panel) registered, so nothing is installed by hand.

On launch the review grid's fields are brought up to date (`curate.review.grid`: the source's
label and the suggestion as label fields in fixed colours). `--annotate` opens the App on the
*Answer faces* panel alone (no grid, whose labels would anchor the answers).

The plugin is found through FiftyOne's plugins directory: `curate app` points
FIFTYONE_PLUGINS_DIR at `PLUGINS_DIR` unless the user has one, in which case the plugin must be
linked into it (`plugin_hint`, docs/review.md).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from curate.core import store
from curate.core.errors import InputError
from curate.core.issues import ensure_saved_views

log = logging.getLogger(__name__)

PLUGINS_DIR = Path(__file__).resolve().parent / "plugins"
REVIEW_MODES = ("label",)  # --review: open on the queue of these flags


def plugin_hint(plugins_dir: str) -> str:
    return (f"FIFTYONE_PLUGINS_DIR is {plugins_dir}: link the review plugin into it "
            f"(ln -s {PLUGINS_DIR / 'review'} {plugins_dir}/curate-review) to get the "
            "label-audit panel and review operators")


def register_plugin() -> str:
    """Make the App server (a child process, which inherits the environment) find the plugin.
    Returns the plugins directory in use."""
    current = os.environ.get("FIFTYONE_PLUGINS_DIR")
    if current and Path(current).resolve() != PLUGINS_DIR:
        if not any(p.name == "fiftyone.yml" and "review" in str(p.parent)
                   for p in Path(current).rglob("fiftyone.yml")):
            log.warning(plugin_hint(current))
        return current
    os.environ["FIFTYONE_PLUGINS_DIR"] = str(PLUGINS_DIR)
    store.fo().config.plugins_dir = str(PLUGINS_DIR)
    return str(PLUGINS_DIR)


def _check_port(address: str, port: int) -> None:
    """A port held by another program is a one-line error. (FiftyOne would start its server,
    which cannot bind, and then retry connecting every 10 s forever.) A FiftyOne App server
    there is fine: FiftyOne connects to it."""
    import json
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((address, port)) != 0:
            return  # free
    try:
        with urllib.request.urlopen(f"http://{address}:{port}/fiftyone", timeout=2) as r:
            if "version" in json.loads(r.read()):
                return
    except (OSError, ValueError):
        pass
    raise InputError(f"port {port} on {address} is in use by another program (not a FiftyOne "
                     "App): pass --port N")


def answer_spaces() -> Any:
    """The App's layout in the answering mode: the Answer faces panel alone."""
    from fiftyone.core.odm.workspace import Panel, Space

    from curate.app.answering import PANEL

    return Space(children=[Panel(type=PANEL, pinned=True)], orientation="horizontal")


def _annotate_task(ds: Any, task: str | None) -> str:
    """The task the answering mode opens on (checked now: a one-line error, not an App
    that opens on nothing)."""
    from curate.review import answering

    task = task or answering.default_task(ds)
    faces = answering.task_faces(ds, task)
    log.info("answering: task %s, %d faces", task, len(faces))
    os.environ[answering.TASK_ENV] = task
    return task


def launch(name: str, port: int = 5151, address: str = "127.0.0.1", wait: bool = True,
           review: str | None = None, reviewer: str | None = None,
           workspace: Path | None = None, annotate: bool = False,
           task: str | None = None) -> Any:
    """Start the App server on the dataset (no browser is opened); returns the session.
    With `review="label"` it opens on the first batch of the label review queue; with
    `annotate` on the answering mode for `task` (default: the last `curate annotate` task)."""
    from curate.review import review_queue
    from curate.review.decisions import REVIEWER_ENV, WORKSPACE_ENV
    from curate.review.grid import write_grid_fields

    if review is not None and review not in REVIEW_MODES:
        raise InputError(f"--review {review!r}: use one of {', '.join(REVIEW_MODES)}")
    if annotate and review is not None:
        raise InputError("--annotate and --review are two modes: pass one")
    if task and not annotate:
        raise InputError("--task names the faces to answer: pass it with --annotate")
    if reviewer:
        os.environ[REVIEWER_ENV] = reviewer
    if workspace is not None:
        os.environ[WORKSPACE_ENV] = str(Path(workspace).resolve())
    plugins = register_plugin()
    log.info("plugins: %s", plugins)
    ds = store.load_dataset(name)
    if annotate:
        _annotate_task(ds, task)
    views = ensure_saved_views(ds)
    log.info("saved views: %s", ", ".join(views))
    log.info("review grid fields written on %d samples", write_grid_fields(ds))
    view = None
    if review == "label":
        batch = review_queue(ds)
        log.info("review queue: %d of %d flags left, %d reviewed", len(batch.ids),
                 batch.remaining, batch.reviewed)
        view = ds.select(batch.ids, ordered=True)
    _check_port(address, port)
    session = store.fo().launch_app(ds, view=view, port=port, address=address, remote=True,
                                    auto=False, spaces=answer_spaces() if annotate else None)
    if wait:
        session.wait(-1)
    return session
