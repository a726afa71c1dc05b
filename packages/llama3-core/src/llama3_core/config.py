"""Model configuration: the shape of a Llama 3 network.

``ModelConfig`` is built from one of three sources, so that every checkpoint
format yields the same description:

- ``ModelConfig.from_meta_params(params)``: Meta's ``params.json``;
- ``ModelConfig.from_hf_config(config)``: Hugging Face ``config.json``;
- ``ModelConfig.from_gguf_metadata(metadata, tensor_names)``: GGUF key/value metadata.

``PRESETS`` contains the published Llama 3, 3.1 and 3.2 shapes, so a loader can
say which known model a checkpoint claims to be and catch a shape mismatch
before reading gigabytes of weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mltk_core.errors import UserInputError


@dataclass(frozen=True)
class RopeScaling:
    """Llama 3.1 rotary-frequency scaling (Hugging Face ``rope_type: llama3``).

    Wavelengths shorter than ``original_max_position_embeddings / high_freq_factor``
    keep their frequency, those longer than ``... / low_freq_factor`` are divided
    by ``factor``, and the band in between is interpolated smoothly.
    """

    factor: float = 8.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclass
class ModelConfig:
    """Shape and numerics of a Llama 3 network.

    The feed-forward hidden size is ``hidden_dim`` when given, else Meta's rule
    from ``dim``, ``ffn_dim_multiplier`` and ``multiple_of`` (see ``ffn_hidden_dim``).
    """

    dim: int = 4096
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int | None = None  # None means n_heads (no grouped-query attention)
    vocab_size: int = 128256
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    hidden_dim: int | None = None
    norm_eps: float = 1e-5
    rope_theta: float = 500000.0
    rope_scaling: RopeScaling | None = None
    max_seq_len: int = 8192
    tie_embeddings: bool = False
    # Dropout on attention probabilities and on both residual branches, active
    # only in training mode. Pretrained Llama models use 0.
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.n_kv_heads is None:
            self.n_kv_heads = self.n_heads
        for name in ("dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise UserInputError(
                    f"invalid model config: {name} must be a positive integer, got {value!r}"
                )
        if self.dim % self.n_heads:
            raise UserInputError(
                f"invalid model config: dim {self.dim} is not divisible by n_heads {self.n_heads}"
            )
        if self.n_heads % self.n_kv_heads:
            raise UserInputError(
                f"invalid model config: n_heads {self.n_heads} is not a multiple of "
                f"n_kv_heads {self.n_kv_heads}"
            )
        if self.head_dim % 2:
            raise UserInputError(
                f"invalid model config: head_dim {self.head_dim} must be even for rotary embeddings"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise UserInputError(
                f"invalid model config: dropout must be in [0, 1), got {self.dropout}"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def n_rep(self) -> int:
        """Number of query heads that share one key/value head."""
        return self.n_heads // self.n_kv_heads

    @property
    def ffn_hidden_dim(self) -> int:
        """SwiGLU hidden size: explicit, or Meta's rule.

        Meta's rule takes 2/3 of 4 * dim, so that SwiGLU's three matrices cost
        what a plain 4 * dim MLP's two cost. It scales that by
        ``ffn_dim_multiplier`` and rounds up to a multiple of ``multiple_of``:
        dim 4096, multiplier 1.3 and multiple_of 1024 give 14336.
        """
        if self.hidden_dim is not None:
            return self.hidden_dim
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return self.multiple_of * ((hidden + self.multiple_of - 1) // self.multiple_of)

    def with_overrides(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)

    # ------------------------------------------------------------------ sources

    @classmethod
    def from_meta_params(
        cls, params: Mapping[str, Any], max_seq_len: int | None = None
    ) -> ModelConfig:
        """Build a config from Meta's ``params.json``.

        ``params.json`` does not store the context length: it is 8192 for
        Llama 3 and 131072 when ``use_scaled_rope`` is set (3.1 and 3.2).
        """
        # Vision and MoE checkpoints carry keys this text-only model cannot honour.
        unsupported = sorted(
            set(params) & {"vision_chunk_size", "vision_max_num_chunks", "moe_args"}
        )
        if unsupported:
            raise UserInputError(
                f"unsupported Meta checkpoint: params.json has {', '.join(unsupported)}; "
                "only text-only Llama 3 models are supported"
            )

        scaling = None
        if params.get("use_scaled_rope"):
            factor = params.get("rope_scaling_factor")
            if factor is None:
                # NOTE: Meta's 3.2 1B/3B params.json may omit the factor, although
                # their Hugging Face config.json files give 32. Other scaled-rope
                # models use 8.
                factor = 32.0 if _matches_llama32_small(params) else 8.0
            scaling = RopeScaling(factor=float(factor))

        context = max_seq_len or params.get("max_seq_len") or (131072 if scaling else 8192)
        return cls(
            dim=int(params["dim"]),
            n_layers=int(params["n_layers"]),
            n_heads=int(params["n_heads"]),
            n_kv_heads=int(params.get("n_kv_heads") or params["n_heads"]),
            vocab_size=int(params.get("vocab_size", 128256)),
            multiple_of=int(params.get("multiple_of", 256)),
            ffn_dim_multiplier=params.get("ffn_dim_multiplier"),
            norm_eps=float(params.get("norm_eps", 1e-5)),
            rope_theta=float(params.get("rope_theta", 500000.0)),
            rope_scaling=scaling,
            max_seq_len=int(context),
            # Meta's 3.2 1B and 3B share the embedding with the output; their
            # consolidated.00.pth then has no output.weight, which the loader detects.
            tie_embeddings=False,
        )

    @classmethod
    def from_hf_config(cls, config: Mapping[str, Any]) -> ModelConfig:
        """Build a config from a Hugging Face ``config.json`` of a ``LlamaForCausalLM``."""
        model_type = config.get("model_type", "llama")
        if model_type != "llama":
            raise UserInputError(
                f"unsupported Hugging Face model_type {model_type!r}: "
                "only 'llama' checkpoints are supported"
            )
        if config.get("attention_bias") or config.get("mlp_bias"):
            raise UserInputError(
                "unsupported Hugging Face config: attention_bias and mlp_bias must be false"
            )

        # transformers 5 moved rope_theta and rope_scaling into one rope_parameters dict.
        rope = config.get("rope_parameters") or {}
        dim = int(config["hidden_size"])
        n_heads = int(config["num_attention_heads"])
        head_dim = config.get("head_dim")
        if head_dim is not None and int(head_dim) != dim // n_heads:
            raise UserInputError(
                f"unsupported Hugging Face config: head_dim {head_dim} differs from "
                f"hidden_size / num_attention_heads = {dim // n_heads}"
            )
        return cls(
            dim=dim,
            n_layers=int(config["num_hidden_layers"]),
            n_heads=n_heads,
            n_kv_heads=int(config.get("num_key_value_heads") or n_heads),
            vocab_size=int(config["vocab_size"]),
            hidden_dim=int(config["intermediate_size"]),
            norm_eps=float(config.get("rms_norm_eps", 1e-6)),
            rope_theta=float(rope.get("rope_theta", config.get("rope_theta", 10000.0))),
            rope_scaling=_hf_rope_scaling(config.get("rope_scaling") or rope),
            max_seq_len=int(config.get("max_position_embeddings", 2048)),
            tie_embeddings=bool(config.get("tie_word_embeddings", False)),
        )

    @classmethod
    def from_gguf_metadata(
        cls,
        metadata: Mapping[str, Any],
        tensor_names: set[str] | None = None,
        rope_scaling: RopeScaling | None = None,
    ) -> ModelConfig:
        """Build a config from GGUF key/value metadata (``llama.*`` keys).

        ``tensor_names`` decides tied embeddings: a GGUF file without
        ``output.weight`` reuses ``token_embd.weight``. llama.cpp stores Llama 3.1
        rope scaling as a ``rope_freqs.weight`` tensor, not as metadata, so the
        GGUF reader recovers it and passes it as ``rope_scaling``.
        """
        arch = metadata.get("general.architecture")
        if arch != "llama":
            raise UserInputError(
                f"unsupported GGUF architecture {arch!r}: only 'llama' models are supported"
            )

        def key(name: str, default: Any = None) -> Any:
            value = metadata.get(f"llama.{name}", default)
            if value is None:
                raise UserInputError(f"invalid GGUF file: metadata key llama.{name} is missing")
            return value

        n_heads = int(key("attention.head_count"))
        dim = int(key("embedding_length"))
        rope_dim = metadata.get("llama.rope.dimension_count")
        if rope_dim is not None and int(rope_dim) != dim // n_heads:
            raise UserInputError(
                f"unsupported GGUF file: rope dimension {rope_dim} differs from "
                f"head_dim {dim // n_heads}"
            )
        scaling_type = metadata.get("llama.rope.scaling.type")
        if scaling_type not in (None, "none"):
            raise UserInputError(
                f"unsupported GGUF rope scaling type {scaling_type!r}: only Llama 3.1 scaling "
                "(stored as rope_freqs.weight) is supported"
            )

        vocab = metadata.get("llama.vocab_size")
        if vocab is None:
            vocab = len(metadata.get("tokenizer.ggml.tokens") or [])
        tied = tensor_names is not None and "output.weight" not in tensor_names
        return cls(
            dim=dim,
            n_layers=int(key("block_count")),
            n_heads=n_heads,
            n_kv_heads=int(key("attention.head_count_kv", n_heads)),
            vocab_size=int(vocab),
            hidden_dim=int(key("feed_forward_length")),
            norm_eps=float(key("attention.layer_norm_rms_epsilon", 1e-5)),
            rope_theta=float(key("rope.freq_base", 10000.0)),
            rope_scaling=rope_scaling,
            max_seq_len=int(key("context_length", 2048)),
            tie_embeddings=tied,
        )

    def matching_preset(self) -> str | None:
        """Name the preset with this config's tensor shapes, if any."""
        for name, preset in PRESETS.items():
            if _same_shapes(self, preset):
                return name
        return None


def _same_shapes(a: ModelConfig, b: ModelConfig) -> bool:
    return (
        a.dim == b.dim
        and a.n_layers == b.n_layers
        and a.n_heads == b.n_heads
        and a.n_kv_heads == b.n_kv_heads
        and a.vocab_size == b.vocab_size
        and a.ffn_hidden_dim == b.ffn_hidden_dim
    )


def _matches_llama32_small(params: Mapping[str, Any]) -> bool:
    shape = (params.get("dim"), params.get("n_layers"))
    return shape in {(2048, 16), (3072, 28)}


def _hf_rope_scaling(raw: Mapping[str, Any] | None) -> RopeScaling | None:
    if not raw:
        return None
    kind = raw.get("rope_type", raw.get("type"))
    if kind in ("default", None):
        return None
    if kind != "llama3":
        raise UserInputError(
            f"unsupported rope_scaling type {kind!r}: "
            "only 'llama3' (Llama 3.1 and later) is supported"
        )
    return RopeScaling(
        factor=float(raw["factor"]),
        low_freq_factor=float(raw.get("low_freq_factor", 1.0)),
        high_freq_factor=float(raw.get("high_freq_factor", 4.0)),
        original_max_position_embeddings=int(raw.get("original_max_position_embeddings", 8192)),
    )


# Published shapes, from Meta's params.json files and the matching Hugging Face
# config.json files (vocabulary 128,256 = 128,000 BPE ranks + 256 special tokens).
_LLAMA3_8B = ModelConfig(
    dim=4096,
    n_layers=32,
    n_heads=32,
    n_kv_heads=8,
    multiple_of=1024,
    ffn_dim_multiplier=1.3,
    rope_theta=500000.0,
    max_seq_len=8192,
)
_LLAMA3_70B = ModelConfig(
    dim=8192,
    n_layers=80,
    n_heads=64,
    n_kv_heads=8,
    multiple_of=4096,
    ffn_dim_multiplier=1.3,
    rope_theta=500000.0,
    max_seq_len=8192,
)
_SCALED_8 = RopeScaling(factor=8.0)
_SCALED_32 = RopeScaling(factor=32.0)

PRESETS: dict[str, ModelConfig] = {
    "llama3-8b": _LLAMA3_8B,
    "llama3-70b": _LLAMA3_70B,
    "llama3.1-8b": replace(_LLAMA3_8B, rope_scaling=_SCALED_8, max_seq_len=131072),
    "llama3.1-70b": replace(_LLAMA3_70B, rope_scaling=_SCALED_8, max_seq_len=131072),
    "llama3.1-405b": ModelConfig(
        dim=16384,
        n_layers=126,
        n_heads=128,
        n_kv_heads=8,
        multiple_of=4096,
        ffn_dim_multiplier=1.2,
        rope_theta=500000.0,
        rope_scaling=_SCALED_8,
        max_seq_len=131072,
    ),
    "llama3.2-1b": ModelConfig(
        dim=2048,
        n_layers=16,
        n_heads=32,
        n_kv_heads=8,
        multiple_of=256,
        ffn_dim_multiplier=1.5,
        rope_theta=500000.0,
        rope_scaling=_SCALED_32,
        max_seq_len=131072,
        tie_embeddings=True,
    ),
    "llama3.2-3b": ModelConfig(
        dim=3072,
        n_layers=28,
        n_heads=24,
        n_kv_heads=8,
        multiple_of=256,
        ffn_dim_multiplier=1.0,
        rope_theta=500000.0,
        rope_scaling=_SCALED_32,
        max_seq_len=131072,
        tie_embeddings=True,
    ),
}
