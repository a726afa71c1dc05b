"""Shared Typer option builders for the commands."""

from __future__ import annotations

from typing import Any

import typer


def flag_option(default: Any, *param_decls: str, **kwargs: Any) -> Any:
    """Declare a boolean flag, such as ``--json`` or ``--chat/--no-chat``.

    Typer 0.29 prints a ``<bool>`` type after every option in ``--help``, which
    reads as if a flag took a value. An empty metavar leaves that column blank.
    """
    return typer.Option(default, *param_decls, metavar="", **kwargs)
