"""Progress bars on stderr, so that stdout stays clean for ``--json`` output."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def stderr_console() -> Console:
    return Console(stderr=True)


def progress_enabled(json_mode: bool = False) -> bool:
    """Show bars only to a person: never in ``--json`` mode or when stderr is not a terminal."""
    return not json_mode and sys.stderr.isatty()


def make_progress(json_mode: bool = False, transient: bool = True) -> Progress:
    """Create a rich ``Progress`` that writes to stderr and is silent when disabled.

    Use it as a context manager and add tasks with ``progress.add_task``.
    """
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        disable=not progress_enabled(json_mode),
        transient=transient,
    )
