"""One forward pass, step by step: the tensors a from-scratch Llama tutorial shows.

``trace_forward`` runs the model's own modules in the order the data flows and
records, for the prompt:

- each step's name and shape (tokens, embeddings, RMSNorm, q/k/v split into
  heads, the rotary rotation, scores, the causal mask, softmax, the attention
  output, SwiGLU, the residual stream, the final norm) for the layer chosen to
  be explained;
- every layer's attention weights, computed explicitly as
  softmax(q k^T / sqrt(head_dim) + causal mask) in float32, so that a heatmap
  shows the numbers the model multiplies the values by;
- the logit lens: the final norm and output projection applied to the residual
  stream after every layer, and the top token at each position;
- the next-token distribution of the last position.

The explicit attention replaces ``scaled_dot_product_attention`` only inside
the trace. Its output feeds the next layer, so the trace's final logits equal
the model's own forward up to rounding (a test checks this).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from llama3_core.model import Attention, FeedForward, Transformer, apply_rotary


@dataclass
class Step:
    """One step of the forward pass: its name, the tensor shape, and what happened."""

    name: str
    shape: tuple[int, ...]
    detail: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "detail": self.detail}


@dataclass
class AttentionRecord:
    """One layer's attention over the prompt, each tensor (n_heads, seq, seq), float32."""

    scores: torch.Tensor  # q k^T / sqrt(head_dim), before the mask
    masked: torch.Tensor  # scores with -inf above the diagonal
    weights: torch.Tensor  # softmax of ``masked``: rows sum to 1, zeros above the diagonal


@dataclass
class Trace:
    """Everything ``llama explain`` shows about one forward pass of a prompt."""

    token_ids: list[int]
    layer: int
    steps: list[Step] = field(default_factory=list)
    attention: list[AttentionRecord] = field(default_factory=list)  # one per layer
    rotary_angles: torch.Tensor | None = None  # (seq, head_dim / 2) radians, float32
    lens_ids: torch.Tensor | None = None  # (n_layers, seq): top token after each layer
    lens_probabilities: torch.Tensor | None = None  # (n_layers, seq)
    logits: torch.Tensor | None = None  # (seq, vocab_size), float32
    next_token_probabilities: torch.Tensor | None = None  # (vocab_size,), float32


def _describe(tensor: torch.Tensor) -> str:
    values = tensor.detach().float()
    rms = values.pow(2).mean().sqrt().item()
    return f"rms {rms:.3g}, dtype {str(tensor.dtype).removeprefix('torch.')}"


def causal_mask(seq: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Return the (seq, seq) boolean mask that lets position i attend to positions 0..i."""
    return torch.ones(seq, seq, dtype=torch.bool, device=device).tril()


def explicit_attention(
    attention: Attention,
    x: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    steps: list[Step] | None = None,
) -> tuple[torch.Tensor, AttentionRecord]:
    """Compute one attention layer with its weights spelled out, for a batch of one sequence.

    x: (1, seq, dim) in the model's dtype. Returns the layer's output (1, seq, dim) and
    the record of its scores. When ``steps`` is a list, each step is appended to it.
    """
    record = steps.append if steps is not None else (lambda step: None)
    batch, seq, _ = x.shape
    n_heads, n_kv_heads, head_dim = attention.n_heads, attention.n_kv_heads, attention.head_dim

    q, k, v = attention.project_qkv(x)  # (batch, seq, heads, head_dim), works on fused projections too
    record(
        Step("q = wq(x), split into heads", tuple(q.shape), f"{n_heads} query heads of {head_dim}")
    )
    record(
        Step(
            "k = wk(x), split into heads",
            tuple(k.shape),
            f"{n_kv_heads} key/value heads of {head_dim}",
        )
    )
    record(
        Step(
            "v = wv(x), split into heads",
            tuple(v.shape),
            f"query head h reads key/value head h // {attention.n_rep}",
        )
    )

    q = apply_rotary(q, cos, sin)
    k = apply_rotary(k, cos, sin)
    record(
        Step(
            "rotary rotation of q and k",
            tuple(q.shape),
            "pairs (x[2i], x[2i+1]) turned by position * frequency i",
        )
    )

    # Grouped-query attention: each key/value head serves n_rep consecutive query heads.
    k = k.repeat_interleave(attention.n_rep, dim=2)  # (batch, seq, n_heads, head_dim)
    v = v.repeat_interleave(attention.n_rep, dim=2)
    scores = torch.einsum("bqhd,bkhd->bhqk", q.float(), k.float()) / math.sqrt(head_dim)
    record(
        Step(
            "scores = q k^T / sqrt(head_dim)",
            tuple(scores.shape),
            "one (query, key) score per head, float32",
        )
    )

    allowed = causal_mask(seq, x.device)
    masked = scores.masked_fill(~allowed, float("-inf"))
    record(
        Step(
            "causal mask", tuple(masked.shape), "-inf above the diagonal: no token sees a later one"
        )
    )

    weights = torch.softmax(masked, dim=-1)
    record(Step("softmax over keys", tuple(weights.shape), "each row sums to 1"))

    mixed = torch.einsum("bhqk,bkhd->bqhd", weights, v.float())  # (batch, seq, n_heads, head_dim)
    mixed = mixed.reshape(batch, seq, n_heads * head_dim).to(x.dtype)
    out = attention.wo(mixed)
    record(
        Step(
            "attention output = wo(weights v)",
            tuple(out.shape),
            "heads concatenated, projected back to dim",
        )
    )

    return out, AttentionRecord(scores=scores[0], masked=masked[0], weights=weights[0])


def _swiglu(feed_forward: FeedForward, x: torch.Tensor, steps: list[Step] | None) -> torch.Tensor:
    gate, up = feed_forward.gate_and_up(x)
    hidden = F.silu(gate) * up
    out = feed_forward.w2(hidden)
    if steps is not None:
        steps.append(
            Step(
                "SwiGLU gate silu(w1 x) * up w3 x",
                tuple(hidden.shape),
                f"hidden size {hidden.shape[-1]}",
            )
        )
        steps.append(Step("SwiGLU down w2", tuple(out.shape), "back to dim"))
    return out


@torch.no_grad()
def trace_forward(model: Transformer, token_ids: list[int], layer: int | None = None) -> Trace:
    """Run ``token_ids`` through ``model`` with every step recorded; ``layer`` (default: the last)
    is the one whose steps are listed in detail."""
    config = model.config
    n_layers = config.n_layers
    layer = n_layers - 1 if layer is None else layer
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0..{n_layers - 1}")
    seq = len(token_ids)
    if not 0 < seq <= config.max_seq_len:
        raise ValueError(f"prompt of {seq} tokens: expected 1..{config.max_seq_len}")

    device = model.tok_embeddings.weight.device
    trace = Trace(token_ids=list(token_ids), layer=layer)
    steps = trace.steps

    tokens = torch.tensor([token_ids], device=device)
    steps.append(Step("tokens", tuple(tokens.shape), f"{seq} token ids"))

    h = model.tok_embeddings(tokens)
    steps.append(
        Step("embeddings", tuple(h.shape), f"one row of tok_embeddings per token; {_describe(h)}")
    )

    cos_table, sin_table = model.rope(device)
    cos = cos_table[:seq][None, :, None, :]  # (1, seq, 1, head_dim / 2)
    sin = sin_table[:seq][None, :, None, :]
    trace.rotary_angles = torch.atan2(sin_table[:seq], cos_table[:seq]).float().cpu()

    lens_ids, lens_probabilities = [], []
    for index, block in enumerate(model.layers):
        detail = steps if index == layer else None
        if detail is not None:
            steps.append(Step(f"layer {index}: residual stream in", tuple(h.shape), _describe(h)))

        normed = block.attention_norm(h)
        if detail is not None:
            steps.append(
                Step(
                    "RMSNorm (attention_norm)",
                    tuple(normed.shape),
                    f"x / rms(x) * weight; {_describe(normed)}",
                )
            )
        attention_out, attention_record = explicit_attention(
            block.attention, normed, cos, sin, detail
        )
        trace.attention.append(_to_cpu(attention_record))

        h = h + attention_out
        if detail is not None:
            steps.append(Step("residual: x + attention", tuple(h.shape), _describe(h)))

        normed = block.ffn_norm(h)
        if detail is not None:
            steps.append(Step("RMSNorm (ffn_norm)", tuple(normed.shape), _describe(normed)))
        h = h + _swiglu(block.feed_forward, normed, detail)
        if detail is not None:
            steps.append(Step("residual: x + SwiGLU", tuple(h.shape), _describe(h)))

        probabilities = torch.softmax(model.output(model.norm(h))[0].float(), dim=-1)
        top_probability, top_id = probabilities.max(dim=-1)
        lens_ids.append(top_id.cpu())
        lens_probabilities.append(top_probability.cpu())

    normed = model.norm(h)
    steps.append(Step("final RMSNorm", tuple(normed.shape), _describe(normed)))
    logits = model.output(normed)[0].float()
    steps.append(
        Step(
            "logits = output(norm(x))",
            tuple(logits.shape),
            f"one score per vocabulary entry ({config.vocab_size})",
        )
    )

    trace.lens_ids = torch.stack(lens_ids)
    trace.lens_probabilities = torch.stack(lens_probabilities)
    trace.logits = logits.cpu()
    trace.next_token_probabilities = torch.softmax(trace.logits[-1], dim=-1)
    return trace


def _to_cpu(record: AttentionRecord) -> AttentionRecord:
    return AttentionRecord(record.scores.cpu(), record.masked.cpu(), record.weights.cpu())


def top_next_tokens(trace: Trace, decode_piece: Callable[[int], str], k: int = 5) -> list[dict]:
    """Return the ``k`` most likely next tokens as dicts with ``id``, ``piece`` and ``probability``."""
    probabilities, ids = trace.next_token_probabilities.topk(k)
    return [
        {
            "id": int(token_id),
            "piece": decode_piece(int(token_id)),
            "probability": float(probability),
        }
        for probability, token_id in zip(probabilities, ids)
    ]


def display_piece(piece: str, max_chars: int = 12) -> str:
    """Make a token piece readable as a plot label: a leading space as a middle dot, control characters escaped."""
    text = piece.encode("unicode_escape").decode("ascii") if not piece.isprintable() else piece
    if text.startswith(" "):
        text = "\u00b7" + text[1:]
    if len(text) > max_chars:
        text = text[: max_chars - 1] + "\u2026"
    return text or "\u2205"


@torch.no_grad()
def layer_attention(
    model: Transformer, token_ids: list[int], layer: int | None = None
) -> torch.Tensor:
    """Return the attention weights of ``layer`` (default: the last) over ``token_ids``,
    (n_heads, seq, seq) float32, recomputing the sequence with the plain forward up to that layer."""
    n_layers = model.config.n_layers
    layer = n_layers - 1 if layer is None else layer
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0..{n_layers - 1}")
    device = model.tok_embeddings.weight.device
    seq = len(token_ids)
    cos_table, sin_table = model.rope(device)
    cos = cos_table[:seq][None, :, None, :]  # (1, seq, 1, head_dim / 2)
    sin = sin_table[:seq][None, :, None, :]

    h = model.tok_embeddings(torch.tensor([token_ids], device=device))
    for block in model.layers[:layer]:
        h = block(h, cos, sin)
    block = model.layers[layer]
    _, record = explicit_attention(block.attention, block.attention_norm(h), cos, sin)
    return record.weights.cpu()
