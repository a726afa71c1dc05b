"""The Llama 3 transformer, in the order data flows through it.

RMSNorm, rotary embeddings, grouped-query attention, SwiGLU feed-forward, the
block, and the model. Parameter names follow Meta's reference code, so Meta
checkpoints load without renaming and peft target names are the usual ones::

    tok_embeddings.weight                      (vocab_size, dim)
    layers.{i}.attention_norm.weight           (dim,)
    layers.{i}.attention.wq.weight             (n_heads * head_dim, dim)
    layers.{i}.attention.wk.weight             (n_kv_heads * head_dim, dim)
    layers.{i}.attention.wv.weight             (n_kv_heads * head_dim, dim)
    layers.{i}.attention.wo.weight             (dim, n_heads * head_dim)
    layers.{i}.ffn_norm.weight                 (dim,)
    layers.{i}.feed_forward.w1.weight          (hidden_dim, dim)   gate
    layers.{i}.feed_forward.w3.weight          (hidden_dim, dim)   up
    layers.{i}.feed_forward.w2.weight          (dim, hidden_dim)   down
    norm.weight                                (dim,)
    output.weight                              (vocab_size, dim)   the same Parameter
                                                                   as tok_embeddings when tied

Interface:

- ``Transformer(config)`` builds the model in the default dtype with random
  weights (normal, std 0.02, residual projections scaled by 1/sqrt(2 * n_layers)).
  Build it under ``torch.device("meta")`` and ``load_state_dict(..., assign=True)``
  to skip that initialisation, then call ``tie_weights()`` because assignment
  replaces the shared Parameter.
- ``model(tokens)`` with ``tokens`` of shape (batch, seq) is the plain causal
  forward used for training: positions 0..seq-1, autograd-friendly, and dropout
  applies when ``model.train()`` and ``config.dropout > 0``. It returns logits of
  shape (batch, seq, vocab_size) in the model's dtype.
- ``model(tokens, positions, cache)`` is the inference path. ``cache`` comes from
  ``model.new_cache(batch_size, max_seq_len)``. ``positions`` contains each token's
  absolute position, either shape (seq,) shared by every row or (batch, seq) per
  row. Keys and values are written into the cache at those positions, and each
  query attends to cache slots 0..its own position. So a prefill passes
  positions 0..T-1, and each decode step passes the next position. Rows of
  unequal length are right-padded. The padding writes slots that the row's
  later tokens overwrite before anything attends to them.
- ``model.fuse_projections()`` stacks each layer's wq, wk, wv into ``wqkv`` and
  w1, w3 into ``w13`` for faster inference. It renames those parameters, so it
  comes after loading and never before saving or finetuning.

Rotary tables are float32 and computed once per device, independent of the
model's dtype, so a bfloat16 model rotates with float32 angles.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from llama3_core.config import ModelConfig, RopeScaling


class RMSNorm(nn.Module):
    """Root-mean-square norm, computed in float32 and cast back to the input dtype."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # F.rms_norm is one fused kernel for x * rsqrt(mean(x^2) + eps), which saves
        # four dispatches per norm, 60 per decode step of a 30-layer model.
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return normed.type_as(x) * self.weight


# ---------------------------------------------------------------- rotary embeddings


def rope_frequencies(head_dim: int, theta: float, scaling: RopeScaling | None) -> torch.Tensor:
    """Return the head_dim / 2 rotary frequencies (radians per position), float32."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    freqs = 1.0 / (theta**exponents)
    if scaling is None:
        return freqs
    return _scale_frequencies(freqs, scaling)


def _scale_frequencies(freqs: torch.Tensor, scaling: RopeScaling) -> torch.Tensor:
    """Apply Llama 3.1 scaling: keep short wavelengths, divide long ones by the factor,
    and blend linearly (in context-length / wavelength) in between."""
    context = scaling.original_max_position_embeddings
    wavelengths = 2 * math.pi / freqs
    low_freq_wavelength = context / scaling.low_freq_factor
    high_freq_wavelength = context / scaling.high_freq_factor

    smooth = (context / wavelengths - scaling.low_freq_factor) / (
        scaling.high_freq_factor - scaling.low_freq_factor
    )
    blended = (1 - smooth) * freqs / scaling.factor + smooth * freqs
    scaled = torch.where(wavelengths > low_freq_wavelength, freqs / scaling.factor, blended)
    return torch.where(wavelengths < high_freq_wavelength, freqs, scaled)


def rope_tables(
    config: ModelConfig, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return cos and sin of every (position, frequency) angle.

    Both are float32 and shaped (max_seq_len, head_dim / 2).
    """
    freqs = rope_frequencies(config.head_dim, config.rope_theta, config.rope_scaling).to(device)
    positions = torch.arange(config.max_seq_len, device=device, dtype=torch.float32)
    angles = torch.outer(positions, freqs)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs (x[2i], x[2i+1]) of the last dimension, in float32.

    x: (batch, seq, heads, head_dim); cos, sin: broadcastable to (batch, seq, 1, head_dim / 2).
    """
    pairs = x.float().unflatten(-1, (-1, 2))  # (batch, seq, heads, head_dim / 2, 2)
    even, odd = pairs.unbind(-1)
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


# ---------------------------------------------------------------- key/value cache


class KVCache:
    """Preallocated keys and values of every layer.

    Each tensor is (batch, n_kv_heads, max_seq_len, head_dim).
    """

    def __init__(
        self,
        config: ModelConfig,
        batch_size: int,
        max_seq_len: int,
        device: torch.device | str,
        dtype: torch.dtype,
    ) -> None:
        shape = (batch_size, config.n_kv_heads, max_seq_len, config.head_dim)
        self.batch_size = batch_size
        self.max_seq_len = max_seq_len
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.values = [
            torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)
        ]

    def update(
        self,
        layer: int,
        k: torch.Tensor,
        v: torch.Tensor,
        positions: torch.Tensor,
        kv_len: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write k, v (batch, seq, n_kv_heads, head_dim) at ``positions`` and return
        the first ``kv_len`` slots of this layer, each (batch, n_kv_heads, kv_len, head_dim)."""
        batch = k.shape[0]
        cache_k = self.keys[layer][:batch]
        cache_v = self.values[layer][:batch]
        if positions.dim() == 1:
            cache_k.index_copy_(2, positions, k.transpose(1, 2))
            cache_v.index_copy_(2, positions, v.transpose(1, 2))
        else:
            rows = torch.arange(batch, device=k.device)[:, None]
            cache_k[rows, :, positions] = k  # (batch, seq) index pairs, each (n_kv_heads, head_dim)
            cache_v[rows, :, positions] = v
        return cache_k[:, :, :kv_len], cache_v[:, :, :kv_len]


# ---------------------------------------------------------------- attention


class Attention(nn.Module):
    """Grouped-query self-attention: query head h reads key/value head h // n_rep."""

    def __init__(self, config: ModelConfig, layer_index: int) -> None:
        super().__init__()
        self.layer_index = layer_index
        self.n_heads = config.n_heads
        self.n_kv_heads = config.n_kv_heads
        self.n_rep = config.n_rep
        self.head_dim = config.head_dim
        self.dropout = config.dropout

        self.wq = nn.Linear(config.dim, config.n_heads * config.head_dim, bias=False)
        self.wk = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.wv = nn.Linear(config.dim, config.n_kv_heads * config.head_dim, bias=False)
        self.wo = nn.Linear(config.n_heads * config.head_dim, config.dim, bias=False)
        # Set by fuse_projections() for inference: wq, wk and wv stacked into one matrix,
        # so a decode step runs one matmul instead of three small ones.
        self.wqkv: nn.Linear | None = None

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: KVCache | None = None,
        positions: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        kv_len: int = 0,
    ) -> torch.Tensor:
        if self.wqkv is None:
            q, k, v = self.project_qkv(x)
            q = apply_rotary(q, cos, sin)
            k = apply_rotary(k, cos, sin)
        else:
            q, k, v = self._fused_qkv(x, cos, sin)

        if cache is None:
            y = self._causal_attention(q, k, v)
        else:
            keys, values = cache.update(self.layer_index, k, v, positions, kv_len)
            y = self._cached_attention(q, keys, values, mask)
        return self.wo(y)

    def project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return q (batch, seq, n_heads, head_dim) and k, v (batch, seq, n_kv_heads, head_dim), unrotated."""
        batch, seq, _ = x.shape
        if self.wqkv is None:
            q, k, v = self.wq(x), self.wk(x), self.wv(x)
        else:
            q, k, v = self.wqkv(x).split(self._qkv_widths(), dim=-1)
        q = q.view(batch, seq, self.n_heads, self.head_dim)
        k = k.view(batch, seq, self.n_kv_heads, self.head_dim)
        v = v.view(batch, seq, self.n_kv_heads, self.head_dim)
        return q, k, v

    def _qkv_widths(self) -> list[int]:
        return [self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim, self.n_kv_heads * self.head_dim]

    def _fused_qkv(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """Project with wqkv and rotate q and k in one call, since their heads are adjacent."""
        batch, seq, _ = x.shape
        qkv = self.wqkv(x)
        rotated_width = (self.n_heads + self.n_kv_heads) * self.head_dim
        qk = qkv[..., :rotated_width].view(batch, seq, self.n_heads + self.n_kv_heads, self.head_dim)
        q, k = apply_rotary(qk, cos, sin).split([self.n_heads, self.n_kv_heads], dim=2)
        v = qkv[..., rotated_width:].view(batch, seq, self.n_kv_heads, self.head_dim)
        return q, k, v

    def fuse_projections(self) -> None:
        """Replace wq, wk and wv with one stacked Linear ``wqkv``, for inference only.

        The state dict then names ``wqkv`` instead, so fuse after loading and
        never before saving, finetuning or wrapping with peft.
        """
        if self.wqkv is not None:
            return
        stacked = torch.cat([self.wq.weight, self.wk.weight, self.wv.weight]).detach()
        self.wqkv = _linear_with_weight(stacked)
        del self.wq, self.wk, self.wv

    def _causal_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Compute the training path, giving every query head its own copy of its key/value head."""
        batch, seq, _, _ = q.shape
        k = k.repeat_interleave(self.n_rep, dim=2)  # (batch, seq, n_heads, head_dim)
        v = v.repeat_interleave(self.n_rep, dim=2)
        y = F.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            is_causal=True,
            dropout_p=self.dropout if self.training else 0.0,
        )  # (batch, n_heads, seq, head_dim)
        return y.transpose(1, 2).reshape(batch, seq, -1)

    def _cached_attention(
        self,
        q: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        mask: torch.Tensor | None,
    ) -> torch.Tensor:
        """Compute the inference path.

        Each group's n_rep query heads are folded into the query axis, so the cached
        keys and values are read once per key/value head instead of copied n_rep times.
        """
        batch, seq, _, _ = q.shape
        q = q.view(batch, seq, self.n_kv_heads, self.n_rep, self.head_dim)
        q = q.permute(0, 2, 3, 1, 4).reshape(
            batch, self.n_kv_heads, self.n_rep * seq, self.head_dim
        )

        y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        # (batch, n_kv_heads, n_rep * seq, head_dim) -> (batch, seq, n_heads * head_dim)
        y = y.view(batch, self.n_kv_heads, self.n_rep, seq, self.head_dim).permute(0, 3, 1, 2, 4)
        return y.reshape(batch, seq, -1)


# ---------------------------------------------------------------- feed-forward and block


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        hidden = config.ffn_hidden_dim
        self.w1 = nn.Linear(config.dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, config.dim, bias=False)
        self.w3 = nn.Linear(config.dim, hidden, bias=False)
        # Set by fuse_projections() for inference: w1 and w3 stacked into one matrix.
        self.w13: nn.Linear | None = None

    def gate_and_up(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return w1 x (the gate, before SiLU) and w3 x (the up projection)."""
        if self.w13 is None:
            return self.w1(x), self.w3(x)
        if x.shape[:-1].numel() > 1 and isinstance(self.w13, nn.Linear):
            # Many tokens (a prefill): two matmuls over the halves of the stacked weight,
            # which are views, not copies. For 128 tokens through SmolLM2's 3072 x 576
            # matrix that was about 8% faster in float32 and equal in bfloat16 in a
            # standalone timing (2 EPYC cores).
            gate_weight, up_weight = self.w13.weight.chunk(2)
            return F.linear(x, gate_weight), F.linear(x, up_weight)
        gate, up = self.w13(x).chunk(2, dim=-1)
        return gate, up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_and_up(x)
        return self.w2(F.silu(gate) * up)

    def fuse_projections(self) -> None:
        """Replace w1 and w3 with one stacked Linear ``w13``, for inference only (see Attention)."""
        if self.w13 is not None:
            return
        self.w13 = _linear_with_weight(torch.cat([self.w1.weight, self.w3.weight]).detach())
        del self.w1, self.w3


def _linear_with_weight(weight: torch.Tensor) -> nn.Linear:
    """Wrap ``weight`` (out_features, in_features) in a bias-free Linear without initialising a new one."""
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
    linear.weight = nn.Parameter(weight, requires_grad=False)
    return linear


class TransformerBlock(nn.Module):
    def __init__(self, config: ModelConfig, layer_index: int) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.dim, config.norm_eps)
        self.attention = Attention(config, layer_index)
        self.ffn_norm = RMSNorm(config.dim, config.norm_eps)
        self.feed_forward = FeedForward(config)
        self.residual_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, **attention_kwargs
    ) -> torch.Tensor:
        h = x + self.residual_dropout(
            self.attention(self.attention_norm(x), cos, sin, **attention_kwargs)
        )
        return h + self.residual_dropout(self.feed_forward(self.ffn_norm(h)))


# ---------------------------------------------------------------- model


class Transformer(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # An explicit empty weight skips nn.Embedding's own normal_ initialisation,
        # which on the meta device imports torch._refs (seconds). _init_weights
        # initialises it below.
        self.tok_embeddings = nn.Embedding(
            config.vocab_size, config.dim, _weight=torch.empty(config.vocab_size, config.dim)
        )
        self.layers = nn.ModuleList(TransformerBlock(config, i) for i in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.tie_weights()
        # Plain attribute, not a buffer: Module.to(dtype) would round a buffer to bfloat16.
        self._rope_cache: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._init_weights()

    def tie_weights(self) -> None:
        """Share the embedding matrix with the output projection if ``config.tie_embeddings``."""
        if self.config.tie_embeddings:
            self.output.weight = self.tok_embeddings.weight

    def _init_weights(self) -> None:
        if self.tok_embeddings.weight.device.type == "meta":
            return
        # wo and w2 add into the residual stream once per layer each, so their
        # scale shrinks with depth (GPT-2's residual scaling).
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, parameter in self.named_parameters():
            if name.endswith("norm.weight"):
                continue
            std = residual_std if name.endswith(("wo.weight", "w2.weight")) else 0.02
            nn.init.normal_(parameter, mean=0.0, std=std)

    def new_cache(self, batch_size: int, max_seq_len: int | None = None) -> KVCache:
        """Allocate a key/value cache on the model's device and in its dtype."""
        length = min(max_seq_len or self.config.max_seq_len, self.config.max_seq_len)
        weight = self.tok_embeddings.weight
        return KVCache(self.config, batch_size, length, weight.device, weight.dtype)

    def rope(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the float32 cos and sin tables on ``device``, computing them once."""
        tables = self._rope_cache.get(device)
        if tables is None:
            # Tables built under inference_mode would be inference tensors, which a
            # later training forward cannot save for backward, so build them outside it.
            with torch.inference_mode(False):
                tables = rope_tables(self.config, device)
            self._rope_cache[device] = tables
        return tables

    def forward(
        self,
        tokens: torch.Tensor,
        positions: torch.Tensor | None = None,
        cache: KVCache | None = None,
        last_only: bool = False,
    ) -> torch.Tensor:
        """Return logits (batch, seq, vocab_size); see the module docstring for both paths.

        With ``last_only`` only the last column's logits are computed, (batch, 1, vocab_size).
        A prefill needs no more, and the output projection over every prompt position
        is about a tenth of a SmolLM2 prefill's FLOPs.
        """
        batch, seq = tokens.shape
        cos_table, sin_table = self.rope(tokens.device)

        if cache is None:
            if positions is not None:
                raise ValueError(
                    "positions apply only with a cache; the uncached forward uses 0..seq-1"
                )
            if seq > self.config.max_seq_len:
                raise ValueError(
                    f"sequence of {seq} tokens exceeds max_seq_len {self.config.max_seq_len}"
                )
            cos = cos_table[:seq][None, :, None, :]  # (1, seq, 1, head_dim / 2)
            sin = sin_table[:seq][None, :, None, :]
            attention_kwargs: dict = {}
        else:
            cos, sin, attention_kwargs = self._cache_inputs(
                positions, cache, batch, seq, cos_table, sin_table
            )

        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin, **attention_kwargs)
        if last_only:
            h = h[:, -1:]
        return self.output(self.norm(h))

    def _cache_inputs(self, positions, cache, batch, seq, cos_table, sin_table):
        """Gather rotary angles and build the attention mask for the cached path."""
        if positions is None:
            raise ValueError("the cached forward needs positions")
        if positions.shape[-1] != seq or (positions.dim() == 2 and positions.shape[0] != batch):
            raise ValueError(
                f"positions shape {tuple(positions.shape)} does not match tokens ({batch}, {seq})"
            )
        if batch > cache.batch_size:
            raise ValueError(f"batch of {batch} exceeds the cache's batch size {cache.batch_size}")

        kv_len = int(positions.max()) + 1
        if kv_len > cache.max_seq_len:
            raise ValueError(
                f"position {kv_len - 1} is beyond the cache's length {cache.max_seq_len}"
            )

        slots = torch.arange(kv_len, device=positions.device)
        if positions.dim() == 1:
            cos = cos_table[positions][None, :, None, :]  # (1, seq, 1, head_dim / 2)
            sin = sin_table[positions][None, :, None, :]
            # One decode step at the newest position attends to every slot: no mask.
            single_step = seq == 1
            allowed = None if single_step else slots[None, :] <= positions[:, None]  # (seq, kv_len)
            mask = None if allowed is None else allowed.repeat(self.config.n_rep, 1)
        else:
            cos = cos_table[positions][:, :, None, :]  # (batch, seq, 1, head_dim / 2)
            sin = sin_table[positions][:, :, None, :]
            allowed = slots[None, None, :] <= positions[:, :, None]  # (batch, seq, kv_len)
            mask = allowed[:, None].repeat(
                1, self.config.n_rep, 1, 1
            )  # (batch, n_rep, seq, kv_len)
            mask = mask.view(batch, 1, self.config.n_rep * seq, kv_len)
        return cos, sin, {"cache": cache, "positions": positions, "mask": mask, "kv_len": kv_len}

    def fuse_projections(self) -> Transformer:
        """Stack each layer's wq/wk/wv and w1/w3 into one matrix each, for faster inference.

        Decode at batch 1 runs one matrix-vector product per Linear, and small
        ones do not reach the memory bandwidth that large ones do. Returns self.
        """
        for layer in self.layers:
            layer.attention.fuse_projections()
            layer.feed_forward.fuse_projections()
        return self

    def num_parameters(self) -> int:
        """Count distinct parameters (a tied embedding counts once)."""
        return sum(p.numel() for p in self.parameters())
