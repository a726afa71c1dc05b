"""Atomic file output: write a temporary file in the target's folder, then
rename it over the target. A rename within one file system is atomic on POSIX
and Windows, so a reader or an interrupted run never finds a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``.

    On an exception the temporary file is removed and ``target`` is untouched.
    ``suffix`` keeps an extension for writers that infer the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(handle)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        # mkstemp creates the file readable by its owner only; give it the
        # mode that a plain open() would have given the target.
        os.chmod(temporary_path, _new_file_mode())
        os.replace(temporary_path, target)
    except BaseException:
        temporary_path.unlink(missing_ok=True)
        raise


def _new_file_mode() -> int:
    """Return 0o666 less the process umask, the mode open() gives a new file."""
    umask = os.umask(0o022)  # the umask can only be read by setting it
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(target: str | os.PathLike[str], mode: str, write: Callable[[IO[Any]], None]) -> Path:
    with atomic_path(target) as temporary:
        encoding = None if "b" in mode else "utf-8"
        with open(temporary, mode, encoding=encoding) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> Path:
    return _atomic_write(target, "w", lambda stream: stream.write(text))


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    return _atomic_write(target, "wb", lambda stream: stream.write(data))


def atomic_write_json(target: str | os.PathLike[str], payload: Any, indent: int = 2) -> Path:
    """Write ``payload`` as JSON. It is serialised before the file opens, so an
    unserialisable value raises without creating any file."""
    text = json.dumps(payload, indent=indent, sort_keys=False, allow_nan=False) + "\n"
    return atomic_write_text(target, text)


def atomic_save_figure(target: str | os.PathLike[str], figure: Any, dpi: int = 120) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    with atomic_path(target, suffix=".png") as temporary:
        figure.savefig(temporary, format="png", dpi=dpi, bbox_inches="tight")
    return Path(target)
