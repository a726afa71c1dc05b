"""GGUF files (llama.cpp's format), read with the ``gguf`` package.

Quantized tensors are dequantized to float32 with ``gguf.quants.dequantize``
and then cast to the requested dtype. llama.cpp's converter writes wq and wk in
Meta's interleaved-pair rotary layout, so they need no permutation. GGUF lists
each shape fastest dimension first, the reverse of PyTorch's order.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mltk_core.errors import UserInputError

from llama3_core import ggml_blocks
from llama3_core.byte_level_bpe import tokenizer_from_gguf
from llama3_core.config import ModelConfig, RopeScaling
from llama3_core.model import rope_frequencies
from llama3_core.weights import Checkpoint

_LAYER_NAMES = {
    "attn_norm.weight": "attention_norm.weight",
    "attn_q.weight": "attention.wq.weight",
    "attn_k.weight": "attention.wk.weight",
    "attn_v.weight": "attention.wv.weight",
    "attn_output.weight": "attention.wo.weight",
    "ffn_norm.weight": "ffn_norm.weight",
    "ffn_gate.weight": "feed_forward.w1.weight",
    "ffn_down.weight": "feed_forward.w2.weight",
    "ffn_up.weight": "feed_forward.w3.weight",
}
_TOP_NAMES = {
    "token_embd.weight": "tok_embeddings.weight",
    "output_norm.weight": "norm.weight",
    "output.weight": "output.weight",
}
_LAYER_PATTERN = re.compile(r"blk\.(\d+)\.(.+)")
ROPE_FREQS = "rope_freqs.weight"


def meta_name(gguf_name: str) -> str:
    """Translate a GGUF tensor name to Meta's; unknown names pass through."""
    if gguf_name in _TOP_NAMES:
        return _TOP_NAMES[gguf_name]
    match = _LAYER_PATTERN.fullmatch(gguf_name)
    if match and match.group(2) in _LAYER_NAMES:
        return f"layers.{match.group(1)}.{_LAYER_NAMES[match.group(2)]}"
    return gguf_name


def _plain_array_reader():
    """Return a GGUFReader subclass that parses from a plain ndarray view of its memory map.

    GGUFReader slices its ``np.memmap`` once per value, and every memmap slice
    runs Python-level bookkeeping. With SmolLM2's 98,000 vocabulary and merge
    strings, that is most of the parse time; plain ndarray slices halve it.
    """
    from gguf import GGUFReader

    if not callable(getattr(GGUFReader, "_get", None)):
        return GGUFReader  # a gguf release without the private hook: parse at its own speed

    class PlainArrayReader(GGUFReader):
        # Same contract as GGUFReader._get (gguf 0.19): ``count`` values of
        # ``dtype`` at ``offset``, in the file's byte order.
        def _get(self, offset, dtype, count=1, override_order=None):
            plain = self.__dict__.get("_plain")
            if plain is None:
                plain = self.data.view(np.ndarray)
                self.__dict__["_plain"] = plain
            count = int(count)
            dtype = np.dtype(dtype)
            values = plain[offset : offset + dtype.itemsize * count].view(dtype)[:count]
            order = self.byte_order if override_order is None else override_order
            return values.view(values.dtype.newbyteorder(order))

    return PlainArrayReader


def read_gguf(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a GGUF file's metadata (key -> Python value) and tensors (name -> ReaderTensor)."""
    try:
        reader = _plain_array_reader()(str(path))
    except (ValueError, OSError, IndexError, KeyError, TypeError) as error:
        raise UserInputError(
            f"cannot read GGUF file {path}: the file is truncated or corrupt ({error}); download "
            "it again"
        ) from None
    metadata = {key: field.contents() for key, field in reader.fields.items()}
    tensors = {tensor.name: tensor for tensor in reader.tensors}
    return metadata, tensors


def open_gguf_checkpoint(path: Path) -> Checkpoint:
    """Open a GGUF file; tensors are memory-mapped and dequantized on demand."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    metadata, tensors = read_gguf(path)
    scaling = None
    if ROPE_FREQS in tensors:
        scaling = _rope_scaling_from_factors(
            metadata, _tensor_array(tensors[ROPE_FREQS], dequantize), path
        )
    config = ModelConfig.from_gguf_metadata(metadata, set(tensors), rope_scaling=scaling)

    sources = {meta_name(name): tensor for name, tensor in tensors.items() if name != ROPE_FREQS}
    shapes = {
        name: tuple(int(n) for n in reversed(tensor.shape.tolist()))
        for name, tensor in sources.items()
    }

    def read_tensor(name: str) -> torch.Tensor:
        tensor = sources[name]
        try:
            array = _tensor_array(tensor, dequantize)
        except (ValueError, NotImplementedError) as error:
            kind = GGMLQuantizationType(tensor.tensor_type).name
            raise UserInputError(
                f"cannot dequantize tensor {tensor.name} ({kind}) from {path}: {error}"
            ) from None
        if not array.flags.writeable:
            array = array.copy()  # float32 tensors come straight from the read-only memory map
        return torch.from_numpy(array.reshape(shapes[name]))

    template = metadata.get("tokenizer.chat_template")
    return Checkpoint(
        path=path,
        format="gguf",
        config=config,
        shapes=shapes,
        read_tensor=read_tensor,
        tokenizer=tokenizer_from_gguf(metadata, str(path)),
        chat_template=template,
        is_instruct=template is not None,
    )


def _tensor_array(tensor: Any, dequantize: Any) -> np.ndarray:
    """Return a tensor's values as a float32 (or float16/bfloat16 as float32) array."""
    from gguf import GGMLQuantizationType

    kind = GGMLQuantizationType(tensor.tensor_type)
    if kind == GGMLQuantizationType.F32:
        return np.asarray(tensor.data, dtype=np.float32)
    if kind == GGMLQuantizationType.F16:
        return np.asarray(tensor.data).astype(np.float32)
    if ggml_blocks.supports(kind.name):
        return ggml_blocks.dequantize_blocks(tensor.data, kind.name).numpy()
    return np.asarray(dequantize(tensor.data, kind), dtype=np.float32)


def _rope_scaling_from_factors(
    metadata: dict[str, Any], factors: np.ndarray, path: Path
) -> RopeScaling:
    """Recover Llama 3.1 rope scaling from llama.cpp's per-frequency divisors.

    llama.cpp stores the divisor of each rotary frequency instead of the scaling
    parameters. The factor is the largest divisor, and the other parameters are
    Llama 3.1's (low 1, high 4, original context 8192) unless the metadata gives
    them. The divisors they imply must match the file's.
    """
    n_heads = int(metadata["llama.attention.head_count"])
    head_dim = int(metadata["llama.embedding_length"]) // n_heads
    theta = float(metadata.get("llama.rope.freq_base", 10000.0))
    original = int(metadata.get("llama.rope.scaling.original_context_length", 8192))
    scaling = RopeScaling(factor=float(factors.max()), original_max_position_embeddings=original)

    base = rope_frequencies(head_dim, theta, None)
    implied = (base / rope_frequencies(head_dim, theta, scaling)).numpy()
    if factors.shape != implied.shape or not np.allclose(factors, implied, rtol=1e-3):
        raise UserInputError(
            f"unsupported rope scaling in {path}: its {ROPE_FREQS} does not match Llama 3.1 "
            f"scaling with factor {scaling.factor}"
        )
    return scaling
