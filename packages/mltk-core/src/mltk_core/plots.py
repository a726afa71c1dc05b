"""Plot helpers: a headless matplotlib figure and its atomic PNG output."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mltk_core.atomic import atomic_save_figure


def new_figure(width: float = 7.0, height: float = 4.5) -> tuple[Any, Any]:
    """Create a figure and axes on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height))
    return figure, axes


def save_png(figure: Any, target: str | os.PathLike[str], dpi: int = 120) -> Path:
    """Save ``figure`` as a PNG atomically, then close it to free its memory."""
    import matplotlib.pyplot as plt

    try:
        return atomic_save_figure(target, figure, dpi=dpi)
    finally:
        plt.close(figure)
