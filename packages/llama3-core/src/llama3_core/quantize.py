"""Weight-only int8 quantization of Linear layers, with one scale per output channel.

Each row of a weight matrix (one output channel) is stored as int8 values and a
scale, ``w[i, :] ~= q[i, :] * scale[i]`` with ``scale[i] = max|w[i, :]| / 127``.
Activations stay in the model's dtype, so only the weight bytes that decode
reads per token are halved (against bfloat16) or quartered (against float32).

On a CPU the layer picks one of three paths:

- inside ``torch.compile`` with one input row (batch-1 decode), a
  matrix-vector product written as a multiply and a sum, which inductor turns
  into one loop that reads the int8 rows directly. With it, ``llama bench
  --quantize int8 --compile`` decoded SmolLM2 at 86 to 103 tokens/s, against
  51.9 in an earlier record with the int8 kernel below (2 EPYC cores,
  torch 2.15; docs/benchmarks.md);
- with bfloat16 or float16 activations and at most ``INT8_KERNEL_MAX_TOKENS``
  rows, PyTorch's int8 weight kernel ``torch.ops.aten._weight_int8pack_mm``,
  which applies the scales without materialising a dequantized copy;
- otherwise, a dequantized copy in the activation dtype and ``F.linear``.

On a GPU the layer always dequantizes, which ``torch.compile`` fuses into the
matmul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INT8_MAX = 127
# The CPU int8 kernel is built for decode's few rows. For a prefill of many
# tokens, dequantizing and running the float matmul was 2.1x faster for 128
# tokens through SmolLM2's 3072 x 576 gate/up matrix (2 EPYC cores, torch 2.15).
INT8_KERNEL_MAX_TOKENS = 16


def quantize_per_channel(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``weight`` (out_features, in_features) to int8 rows and float32 scales (out_features,).

    Rounding is to nearest, and an all-zero row gets scale 1 so that it dequantizes to zeros.
    """
    weight32 = weight.detach().float()
    absmax = weight32.abs().amax(dim=1)
    scales = torch.where(absmax > 0, absmax / INT8_MAX, torch.ones_like(absmax))
    quantized = torch.round(weight32 / scales[:, None]).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)
    return quantized, scales


@torch.library.custom_op("llama3_core::fusion_barrier", mutates_args=())
def fusion_barrier(x: torch.Tensor) -> torch.Tensor:
    """Return a copy of ``x`` that ``torch.compile`` computes into its own buffer.

    Inductor inlines pointwise producers (an RMSNorm, SiLU times the up
    projection) into the loop of a matrix-vector product that consumes them,
    so they would run once per output row. A custom op is opaque to inductor,
    so its input is computed once.
    """
    return x.clone()


@fusion_barrier.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def _int8pack_available() -> bool:
    return hasattr(torch.ops.aten, "_weight_int8pack_mm")


class Int8Linear(nn.Module):
    """A bias-free Linear layer whose weight is int8 with per-output-channel scales."""

    def __init__(self, weight: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype) -> None:
        super().__init__()
        self.in_features = weight.shape[1]
        self.out_features = weight.shape[0]
        self.register_buffer("weight", weight.contiguous())
        # Scales in the activation dtype: the CPU kernel requires them to match.
        self.register_buffer("scales", scales.to(dtype))

    @classmethod
    def from_linear(cls, linear: nn.Linear, dtype: torch.dtype | None = None) -> Int8Linear:
        if linear.bias is not None:
            raise ValueError("Int8Linear supports bias-free Linear layers only")
        weight, scales = quantize_per_channel(linear.weight)
        target_dtype = dtype or linear.weight.dtype
        return cls(weight.to(linear.weight.device), scales.to(linear.weight.device), target_dtype)

    def dequantize(self) -> torch.Tensor:
        """Return the weight as float32 (out_features, in_features)."""
        return self.weight.float() * self.scales.float()[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        leading = x.shape[:-1]
        flat = x.reshape(-1, self.in_features)  # (tokens, in_features)
        on_cpu = flat.device.type == "cpu"
        if on_cpu and flat.shape[0] == 1 and torch.compiler.is_compiling():
            return self._compiled_matrix_vector(flat).view(*leading, self.out_features)

        scales = self.scales if self.scales.dtype == x.dtype else self.scales.to(x.dtype)
        use_kernel = on_cpu and x.dtype in (torch.bfloat16, torch.float16)
        if use_kernel and flat.shape[0] <= INT8_KERNEL_MAX_TOKENS and _int8pack_available():
            out = torch.ops.aten._weight_int8pack_mm(flat.contiguous(), self.weight, scales)
        else:
            # NOTE: in float32 on a CPU this path converts the whole weight on every
            # call, so it is slower than float32 weights. The int8 kernel's own
            # float32 path was slower still: 207 ms against 49 ms for F.linear over
            # SmolLM2's weights at batch 1 (2 EPYC cores, torch 2.15).
            out = F.linear(flat, self.weight.to(x.dtype)) * scales
        return out.view(*leading, self.out_features)

    def _compiled_matrix_vector(self, row: torch.Tensor) -> torch.Tensor:
        """Multiply one row (1, in_features) by the int8 weight, accumulating in float32.

        Only for ``torch.compile``: run eagerly, the broadcast product would
        materialise an (out_features, in_features) float32 tensor.
        """
        values = fusion_barrier(row).float()
        products = values[:, None, :] * self.weight.float()[None]  # (1, out_features, in_features)
        out = products.sum(dim=-1) * self.scales.float()
        return out.to(row.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 per-channel"


def quantize_linears_int8(model: nn.Module, dtype: torch.dtype | None = None) -> int:
    """Replace every bias-free ``nn.Linear`` in ``model`` with an ``Int8Linear``, in place.

    A Linear whose weight is shared with an embedding (tied output projection)
    gets its own int8 copy, and the embedding keeps its float weight for lookups.
    Returns the number of layers replaced.
    """
    targets = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and module.bias is None
    ]
    for name, linear in targets:
        parent_name, _, child_name = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child_name, Int8Linear.from_linear(linear, dtype))
    return len(targets)

