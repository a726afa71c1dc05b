"""Output conventions: ``--json`` prints one JSON object on stdout and nothing
else there, and human-readable output goes to stderr in that mode."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def human_console(json_mode: bool) -> Console:
    """Return the console for human-readable output: stderr in ``--json`` mode, else stdout.

    Soft wrapping leaves long lines whole: piped into a file, rich would
    otherwise break them at 80 columns, even inside quoted model text.
    """
    return Console(stderr=json_mode, soft_wrap=True)


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


def not_built_yet(command: str) -> None:
    """Exit 1 with one line for a command whose compute core is still to come."""
    print(f"error: `ml-toolkit {command}` is not built yet", file=sys.stderr)
    raise SystemExit(1)
