"""Pictures of a traced forward pass, and the ``index.html`` that shows them in order.

Every figure has a fixed size in inches and is saved at ``DPI`` without a
tight bounding box, so each PNG's size in pixels is known in advance
(``FIGURE_SIZES[kind] * DPI``).
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from mltk_core.atomic import atomic_path, atomic_write_text

from llama3_core.explain import AttentionRecord, Trace, display_piece

DPI = 100
FIGURE_SIZES: dict[str, tuple[float, float]] = {
    "rotary": (7.0, 6.0),
    "qk": (18.0, 6.5),
    "heads": (16.0, 12.0),
    "logit_lens": (16.0, 10.0),
    "generation_attention": (10.0, 9.0),
}


@dataclass(frozen=True)
class Picture:
    """A written PNG, its kind and the sentence that introduces it in ``index.html``."""

    path: Path
    kind: str
    title: str
    caption: str


def _figure(kind: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.figure(figsize=FIGURE_SIZES[kind], dpi=DPI, layout="constrained")


def _save(figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    try:
        with atomic_path(path, suffix=".png") as temporary:
            figure.savefig(temporary, format="png", dpi=DPI)
    finally:
        plt.close(figure)
    return path


def plot_rotary(angles: torch.Tensor, position: int, path: Path) -> Path:
    """Draw the rotation of each frequency pair at ``position`` as a unit vector in the complex plane.

    angles: (seq, head_dim / 2) radians. Pair 0 turns fastest (1 radian per position).
    """
    figure = _figure("rotary")
    axes = figure.add_subplot()
    theta = angles[position].numpy()
    pairs = len(theta)
    colors = _colormap("viridis")(np.linspace(0, 1, pairs))

    circle = np.linspace(0, 2 * math.pi, 200)
    axes.plot(np.cos(circle), np.sin(circle), color="0.8", linewidth=1)
    for index in range(pairs):
        axes.annotate(
            "",
            xy=(math.cos(theta[index]), math.sin(theta[index])),
            xytext=(0, 0),
            arrowprops={"arrowstyle": "->", "color": colors[index], "linewidth": 1.2},
        )
    scalar = _scalar_mappable("viridis", 0, pairs - 1)
    figure.colorbar(scalar, ax=axes, label="frequency pair i (0 turns fastest)")
    axes.set_xlim(-1.15, 1.15)
    axes.set_ylim(-1.15, 1.15)
    axes.set_aspect("equal")
    axes.set_xlabel("real: cos(position * frequency)")
    axes.set_ylabel("imaginary: sin(position * frequency)")
    axes.set_title(f"Rotary rotation of each dimension pair at position {position}")
    return _save(figure, path)


def _colormap(name: str):
    import matplotlib

    return matplotlib.colormaps[name]


def _scalar_mappable(name: str, low: float, high: float):
    import matplotlib.cm
    import matplotlib.colors

    return matplotlib.cm.ScalarMappable(norm=matplotlib.colors.Normalize(low, high), cmap=name)


def _heatmap(
    axes, values: np.ndarray, labels: list[str], title: str, cmap: str, vmin=None, vmax=None
):
    image = axes.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    ticks = range(len(labels))
    fontsize = 8 if len(labels) <= 32 else 5
    axes.set_xticks(ticks, labels, rotation=90, fontsize=fontsize)
    axes.set_yticks(ticks, labels, fontsize=fontsize)
    axes.set_xlabel("key (attended-to token)")
    axes.set_ylabel("query (attending token)")
    axes.set_title(title)
    return image


def plot_query_key(
    record: AttentionRecord, head: int, layer: int, labels: list[str], path: Path
) -> Path:
    """Draw one head's q·k scores three ways: raw, causally masked, and after softmax."""
    figure = _figure("qk")
    panels = figure.subplots(1, 3)
    raw = record.scores[head].numpy()
    masked = record.masked[head].numpy()
    masked_display = np.where(np.isfinite(masked), masked, np.nan)  # -inf cells drawn blank
    weights = record.weights[head].numpy()
    low, high = float(raw.min()), float(raw.max())

    image = _heatmap(
        panels[0], raw, labels, "raw scores q·k / sqrt(head_dim)", "coolwarm", low, high
    )
    figure.colorbar(image, ax=panels[0], shrink=0.8)
    image = _heatmap(
        panels[1], masked_display, labels, "causal mask (blank = -inf)", "coolwarm", low, high
    )
    figure.colorbar(image, ax=panels[1], shrink=0.8)
    image = _heatmap(panels[2], weights, labels, "softmax: attention weights", "viridis", 0.0, 1.0)
    figure.colorbar(image, ax=panels[2], shrink=0.8)
    figure.suptitle(f"Layer {layer}, head {head}")
    return _save(figure, path)


def plot_all_heads(record: AttentionRecord, layer: int, labels: list[str], path: Path) -> Path:
    """Draw the attention weights of every head of one layer in a grid."""
    figure = _figure("heads")
    n_heads = record.weights.shape[0]
    columns = math.ceil(math.sqrt(n_heads))
    rows = math.ceil(n_heads / columns)
    grid = np.atleast_1d(figure.subplots(rows, columns)).reshape(-1)
    show_labels = len(labels) <= 24 and columns <= 4
    for head, axes in enumerate(grid):
        if head >= n_heads:
            axes.set_axis_off()
            continue
        axes.imshow(
            record.weights[head].numpy(),
            cmap="viridis",
            vmin=0.0,
            vmax=1.0,
            interpolation="nearest",
        )
        axes.set_title(f"head {head}", fontsize=9)
        if show_labels:
            axes.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
            axes.set_yticks(range(len(labels)), labels, fontsize=6)
        else:
            axes.set_xticks([])
            axes.set_yticks([])
    figure.colorbar(
        _scalar_mappable("viridis", 0.0, 1.0),
        ax=grid.tolist(),
        shrink=0.6,
        label="attention weight",
    )
    figure.suptitle(
        f"Layer {layer}: attention weights of all {n_heads} heads (rows: queries, columns: keys)"
    )
    return _save(figure, path)


def plot_logit_lens(
    trace: Trace, labels: list[str], lens_labels: list[list[str]], path: Path
) -> Path:
    """Draw the top next token after each layer (rows) at each position (columns), shaded by its probability."""
    figure = _figure("logit_lens")
    axes = figure.add_subplot()
    probabilities = trace.lens_probabilities.numpy()
    n_layers, seq = probabilities.shape
    image = axes.imshow(
        probabilities, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest"
    )
    fontsize = _cell_fontsize(figure, n_layers, seq, max(len(label) for row in lens_labels for label in row))
    for row in range(n_layers):
        for column in range(seq):
            color = "white" if probabilities[row, column] > 0.6 else "black"
            axes.text(
                column,
                row,
                lens_labels[row][column],
                ha="center",
                va="center",
                fontsize=fontsize,
                color=color,
            )
    axes.set_xticks(range(seq), labels, rotation=90, fontsize=8)
    axes.set_yticks(range(n_layers), [str(index) for index in range(n_layers)], fontsize=fontsize)
    axes.set_xlabel("input token (the prediction is for the token after it)")
    axes.set_ylabel("after layer")
    axes.set_title("Logit lens: the top next token if the model stopped after each layer")
    figure.colorbar(image, ax=axes, label="probability of the top token")
    return _save(figure, path)


def _cell_fontsize(figure, rows: int, columns: int, longest_label: int) -> float:
    """Return the largest font size, in points, from 4 to 9, at which a label fits one cell of a rows x columns grid.

    The cell size is estimated from the whole figure, since the constrained
    layout places the axes only when the figure is drawn.
    """
    width_points, height_points = (size * 72 for size in figure.get_size_inches())
    # About 85% of the figure goes to the grid; a character is about 0.6 em wide.
    cell_height = 0.85 * height_points / rows
    cell_width = 0.85 * width_points / columns
    fits = min(0.7 * cell_height, cell_width / (0.6 * max(longest_label, 1)))
    return max(4.0, min(9.0, fits))


def plot_generation_attention(
    weights: torch.Tensor, labels: list[str], prompt_tokens: int, layer: int, path: Path
) -> Path:
    """Draw attention weights (seq, seq) averaged over heads, with a line where generation starts."""
    figure = _figure("generation_attention")
    axes = figure.add_subplot()
    image = _heatmap(
        axes, weights.numpy(), labels, f"Layer {layer}, mean over heads", "viridis", 0.0, None
    )
    boundary = prompt_tokens - 0.5
    axes.axhline(boundary, color="red", linewidth=1)
    axes.axvline(boundary, color="red", linewidth=1)
    figure.colorbar(image, ax=axes, label="attention weight")
    figure.suptitle(
        "Attention over the prompt and the generated tokens (red line: generation starts)"
    )
    return _save(figure, path)


def write_index(pictures: list[Picture], title: str, summary: str, path: Path) -> Path:
    """Write an HTML page that shows ``pictures`` in order, each with its sentence."""
    sections = []
    for picture in pictures:
        sections.append(
            f"<section><h2>{html.escape(picture.title)}</h2>\n"
            f"<p>{html.escape(picture.caption)}</p>\n"
            f'<img src="{html.escape(picture.path.name)}" alt="{html.escape(picture.title)}" '
            'style="max-width:100%"></section>'
        )
    page = (
        '<!doctype html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{html.escape(summary)}</p>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )
    return atomic_write_text(path, page)

# Every name render_trace writes; --overwrite removes only these, never other files.
EXPLANATION_FILE = re.compile(
    r"(rotary|qk_layer\d+_head\d+|heads_layer\d+|logit_lens)\.png|index\.html"
)


def remove_explanation(out_dir: Path) -> list[Path]:
    """Delete the files an earlier explanation wrote into ``out_dir``; return them.

    A new run may draw other layers or heads, so files it would not rewrite
    would otherwise stay beside the new ones.
    """
    if not out_dir.is_dir():
        return []
    removed = [
        path for path in sorted(out_dir.iterdir())
        if path.is_file() and EXPLANATION_FILE.fullmatch(path.name)
    ]
    for path in removed:
        path.unlink()
    return removed


def render_trace(
    trace: Trace,
    pieces: list[str],
    decode_piece,
    out_dir: Path,
    heads: list[int],
    prompt: str,
) -> list[Picture]:
    """Write every picture of ``trace`` and ``index.html`` into ``out_dir``; return the pictures in page order."""
    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [display_piece(piece) for piece in pieces]
    layer = trace.layer
    record = trace.attention[layer]
    position = len(pieces) - 1

    pictures = [
        Picture(
            plot_rotary(trace.rotary_angles, position, out_dir / "rotary.png"),
            "rotary",
            "Rotary embedding",
            f"At position {position} the rotary embedding turns each (even, odd) pair of a query or key "
            "by position times its frequency, so fast pairs have wrapped many times and slow ones barely moved.",
        )
    ]

    for head in heads:
        pictures.append(
            Picture(
                plot_query_key(
                    record, head, layer, labels, out_dir / f"qk_layer{layer}_head{head}.png"
                ),
                "qk",
                f"Query-key scores, layer {layer}, head {head}",
                "Raw scaled dot products of every query with every key, the same after the causal mask "
                "hides future keys, and the softmax that turns each row into weights summing to 1.",
            )
        )
    pictures.append(
        Picture(
            plot_all_heads(record, layer, labels, out_dir / f"heads_layer{layer}.png"),
            "heads",
            f"All heads of layer {layer}",
            "Each head learns its own pattern: some look at the previous token, some at the first token, "
            "some at related words.",
        )
    )

    lens_labels = [
        [display_piece(decode_piece(int(token_id)), 8) for token_id in row]
        for row in trace.lens_ids
    ]
    pictures.append(
        Picture(
            plot_logit_lens(trace, labels, lens_labels, out_dir / "logit_lens.png"),
            "logit_lens",
            "Logit lens",
            "The final norm and output projection applied after every layer show how the prediction at each "
            "position forms with depth; the last row is the model's real output.",
        )
    )

    write_index(
        pictures,
        "llama explain",
        f"Prompt: {prompt!r} ({len(pieces)} tokens).",
        out_dir / "index.html",
    )
    return pictures


def save_generation_attention(model, token_ids: list[int], prompt_tokens: int, decode_piece, path: Path) -> Path:
    """Save the last layer's attention, averaged over heads, over a prompt and its generated tokens."""
    from llama3_core.explain import layer_attention

    layer = model.config.n_layers - 1
    weights = layer_attention(model, token_ids, layer).mean(dim=0)  # (seq, seq)
    labels = [display_piece(decode_piece(token_id)) for token_id in token_ids]
    return plot_generation_attention(weights, labels, prompt_tokens, layer, Path(path))
