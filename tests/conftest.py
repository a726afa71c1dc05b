"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_data_file(relative: str) -> Path:
    """Return ``$MLTK_DATA_DIR/relative``.

    When the file is missing, the test fails under CI (``CI`` set), where the
    data directory must be present, and is skipped elsewhere with the reason,
    so that ``uv run pytest`` passes on a fresh clone.
    """
    root = os.environ.get("MLTK_DATA_DIR")
    path = Path(root) / relative if root else None
    if path is not None and path.is_file():
        return path

    reason = (
        f"{relative} not found: set MLTK_DATA_DIR to a folder that contains it"
        if root is None
        else f"{relative} not found under MLTK_DATA_DIR={root}"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def data_file():
    """Fixture form of :func:`require_data_file`: ``data_file("datasets/x.csv")``."""
    return require_data_file
