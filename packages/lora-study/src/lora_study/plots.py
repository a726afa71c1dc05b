"""The study's figures: learning against forgetting, the 90%-rank heatmap, and update spectra."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mltk_core.plots import new_figure, save_png

MODULE_ORDER = ("wq", "wk", "wv", "wo", "w1", "w2", "w3")


def plot_learning_forgetting(rows: list[dict], domain: str, path: Path) -> Path:
    """Plot the target metric against forgetting, one curve per arm.

    Marker size grows with training length.
    """
    figure, axes = new_figure(7.0, 4.8)
    use_accuracy = domain == "math"
    finished = [row for row in rows if row.get("status") == "finished"]
    longest = max((row["steps"] for row in finished), default=1)
    for arm in dict.fromkeys(row["arm"] for row in finished):
        arm_rows = sorted(
            (row for row in finished if row["arm"] == arm), key=lambda row: row["steps"]
        )
        x = [row["forgetting"] for row in arm_rows]
        y = [row["target_accuracy"] if use_accuracy else row["target_loss"] for row in arm_rows]
        sizes = [20 + 120 * row["steps"] / longest for row in arm_rows]
        line = axes.plot(x, y, linewidth=1, alpha=0.7)[0]
        axes.scatter(x, y, s=sizes, color=line.get_color(), label=arm_rows[0]["label"], zorder=3)
    axes.set_xlabel("forgetting: source held-out loss rise over the base (nats/token)")
    axes.set_ylabel(
        "target exact-match accuracy" if use_accuracy else "target held-out loss (nats/token)"
    )
    if not use_accuracy:
        axes.invert_yaxis()
    axes.set_title("learning against forgetting (marker size: training length)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return save_png(figure, path)


def plot_rank_heatmaps(arm_matrices: dict[str, tuple[str, list[dict]]], path: Path) -> Path:
    """Draw one layer × module heatmap of the 90% rank (as a share of full rank) per arm."""
    import matplotlib.pyplot as plt

    count = len(arm_matrices)
    columns = min(4, count)
    rows_count = (count + columns - 1) // columns
    figure, axes_grid = plt.subplots(
        rows_count, columns, figsize=(3.2 * columns, 2.6 * rows_count), squeeze=False
    )
    image = None
    for index, (label, matrices) in enumerate(arm_matrices.values()):
        axes = axes_grid[index // columns][index % columns]
        grid = _rank_grid(matrices)
        image = axes.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
        axes.set_title(label, fontsize=8)
        axes.set_xticks(range(len(MODULE_ORDER)), MODULE_ORDER, fontsize=7)
        axes.set_yticks(range(grid.shape[0]), [str(i) for i in range(grid.shape[0])], fontsize=7)
        axes.set_ylabel("layer", fontsize=7)
    for index in range(count, rows_count * columns):
        axes_grid[index // columns][index % columns].axis("off")
    if image is not None:
        figure.colorbar(image, ax=axes_grid, shrink=0.8, label="90%-energy rank / full rank")
    return save_png(figure, path)


def _rank_grid(matrices: list[dict]) -> np.ndarray:
    layers = 1 + max((m["layer"] for m in matrices), default=0)
    grid = np.full((layers, len(MODULE_ORDER)), np.nan)
    for matrix in matrices:
        if matrix["module"] in MODULE_ORDER:
            grid[matrix["layer"], MODULE_ORDER.index(matrix["module"])] = matrix["rank90_fraction"]
    return grid


def plot_spectra(arm_matrices: dict[str, tuple[str, list[dict]]], path: Path) -> Path:
    """Plot the cumulative spectral energy of ΔW against the share of full rank, averaged over
    each arm's updated matrices, beside a Gaussian matrix of the first matrix's shape."""
    import torch

    figure, axes = new_figure(7.0, 4.5)
    grid = np.linspace(0.0, 1.0, 101)
    first_shape = None
    for label, matrices in arm_matrices.values():
        curves = [
            _energy_curve(m["singular_values"], grid)
            for m in matrices
            if m.get("singular_values") and m["rank90"] > 0
        ]
        if not curves:
            continue
        first_shape = first_shape or next(m["shape"] for m in matrices if m["rank90"] > 0)
        axes.plot(grid, np.mean(curves, axis=0), label=label)
    if first_shape is not None:
        generator = torch.Generator().manual_seed(0)
        values = torch.linalg.svdvals(torch.randn(tuple(first_shape), generator=generator)).tolist()
        axes.plot(grid, _energy_curve(values, grid), "k--", label="Gaussian baseline")
    axes.axhline(0.9, color="grey", linewidth=0.8, linestyle=":")
    axes.set_xlabel("singular directions kept, as a share of full rank")
    axes.set_ylabel("share of ΔW's spectral energy")
    axes.set_title("spectra of the weight updates (mean over updated matrices)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    return save_png(figure, path)


def _energy_curve(singular_values: list[float], grid: np.ndarray) -> np.ndarray:
    energy = np.square(np.asarray(singular_values, dtype=np.float64))
    cumulative = np.concatenate([[0.0], np.cumsum(energy) / energy.sum()])
    positions = np.linspace(0.0, 1.0, len(cumulative))
    return np.interp(grid, positions, cumulative)
