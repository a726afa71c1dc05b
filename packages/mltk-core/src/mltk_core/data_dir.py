"""The data directory (local copies of downloadable datasets and corpora) and
the cache directory (downloads and built artefacts).

The data directory comes from ``--data-dir`` or the ``MLTK_DATA_DIR``
environment variable and contains ``datasets/`` and ``corpora/``. The cache is
``MLTK_CACHE_DIR``, else ``$XDG_CACHE_HOME/ml-toolkit``, else ``~/.cache/ml-toolkit``.
"""

from __future__ import annotations

import os
from pathlib import Path

from mltk_core.errors import UserInputError

DATA_DIR_VARIABLE = "MLTK_DATA_DIR"
CACHE_DIR_VARIABLE = "MLTK_CACHE_DIR"


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the data directory, or None when neither the option nor the variable is set.

    Raises ``UserInputError`` when a directory is named but does not exist.
    """
    if explicit is not None:
        value, source = str(explicit), "--data-dir"
    elif os.environ.get(DATA_DIR_VARIABLE):
        value, source = os.environ[DATA_DIR_VARIABLE], DATA_DIR_VARIABLE
    else:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise UserInputError(
            f"data directory {value!r} (from {source}) does not exist; "
            "create it with datasets/ and corpora/ inside, or unset it to download into the cache"
        )
    return path


def find_data_file(relative: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Return ``DATA_DIR/relative`` if the data directory is set and has that file, else None."""
    root = resolve_data_dir(data_dir)
    if root is None:
        return None
    candidate = root / relative
    return candidate if candidate.is_file() else None


def cache_dir() -> Path:
    """Return the cache directory, creating it if needed."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        root = Path(os.environ[CACHE_DIR_VARIABLE]).expanduser()
    elif os.environ.get("XDG_CACHE_HOME"):
        root = Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "ml-toolkit"
    else:
        root = Path.home() / ".cache" / "ml-toolkit"
    root.mkdir(parents=True, exist_ok=True)
    return root
