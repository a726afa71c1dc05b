"""Vectorised dequantization of ggml's three simplest block formats, in PyTorch.

``gguf.quants.dequantize`` handles every format but runs in NumPy at about a
second per 50 M weights on one core. These formats cover the default model
(Q4_1, Q8_0) and common downloads (Q4_0), and the tests check that each gives
exactly what ``gguf.quants.dequantize`` gives. Every block holds 32 weights:

- Q8_0: float16 scale d, then 32 int8 values q; weight = d * q.
- Q4_0: float16 d, then 16 bytes of 4-bit values; weight = d * (q - 8).
- Q4_1: float16 d, float16 minimum m, then 16 bytes; weight = d * q + m.

In the 4-bit formats, byte j stores weight j in its low nibble and weight
j + 16 in its high nibble (ggml's ``dequantize_row_q4_0``).
"""

from __future__ import annotations

import numpy as np
import torch

BLOCK = 32
# Bytes per block of each supported format (ggml type name).
BLOCK_BYTES = {"Q8_0": 2 + 32, "Q4_0": 2 + 16, "Q4_1": 2 + 2 + 16}


def supports(type_name: str) -> bool:
    return type_name in BLOCK_BYTES


def dequantize_blocks(raw: np.ndarray, type_name: str) -> torch.Tensor:
    """Dequantize raw block bytes (rows of uint8) to a flat float32 tensor."""
    size = BLOCK_BYTES[type_name]
    # A copy, because torch cannot wrap the read-only memory map.
    blocks = torch.from_numpy(np.array(raw, copy=True).reshape(-1, size))  # (n_blocks, size)
    scale = blocks[:, 0:2].contiguous().view(torch.float16).float()  # (n_blocks, 1)

    if type_name == "Q8_0":
        values = blocks[:, 2:].contiguous().view(torch.int8).float()
        return (scale * values).reshape(-1)

    offset = 4 if type_name == "Q4_1" else 2
    packed = blocks[:, offset:]
    nibbles = torch.cat([packed & 0x0F, packed >> 4], dim=1).float()  # (n_blocks, 32)
    if type_name == "Q4_0":
        return (scale * (nibbles - 8)).reshape(-1)
    minimum = blocks[:, 2:4].contiguous().view(torch.float16).float()
    return (scale * nibbles + minimum).reshape(-1)
