"""Progress bars: rich when enabled, nothing when disabled (tests, pipes, --no-progress)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Tick(Protocol):
    def __call__(self, n: int = 1) -> None: ...


@contextlib.contextmanager
def task(description: str, total: int | None, enabled: bool = True) -> Iterator[Tick]:
    """A progress bar for one stage step; yields a function that advances it by n."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        tid = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(tid, n)
