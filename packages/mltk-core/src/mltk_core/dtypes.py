"""Dtype resolution: one place that turns ``--dtype`` into a ``torch.dtype``."""

from __future__ import annotations

import torch

from mltk_core.errors import UserInputError

DTYPES = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
DTYPE_CHOICES = ("auto", *DTYPES)


def supported_dtypes(device: torch.device) -> list[str]:
    """List the dtype names that compute on ``device``, float32 first."""
    names = ["float32"]
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            names.append("bfloat16")
        names.append("float16")
    elif device.type == "mps":
        names.append("float16")
        if _mps_supports_bfloat16():
            names.append("bfloat16")
    else:
        # NOTE: torch runs bfloat16 and float16 on any x86 or Arm CPU, but
        # float16 matmuls are slow without AVX512-FP16 or Arm FP16 units.
        names.extend(["bfloat16", "float16"])
    return names


def resolve_dtype(spec: str | torch.dtype, device: torch.device) -> torch.dtype:
    """Resolve a dtype spec for ``device``.

    ``auto`` picks bfloat16 where the device supports it, else float32.

    Raises
    ------
    UserInputError
        If the name is unknown or the device cannot compute in that dtype.
    """
    if isinstance(spec, torch.dtype):
        spec = str(spec).removeprefix("torch.")
    name = spec.strip().lower()
    supported = supported_dtypes(device)

    if name == "auto":
        return DTYPES["bfloat16"] if "bfloat16" in supported else DTYPES["float32"]
    if name not in DTYPES:
        raise UserInputError(
            f"invalid dtype {spec!r}: expected one of {', '.join(DTYPE_CHOICES)}. "
            "Pass one of them with --dtype."
        )
    if name not in supported:
        raise UserInputError(
            f"dtype {name} is not supported on {device}; supported there: "
            f"{', '.join(supported)}. Pass one of them with --dtype."
        )
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _mps_supports_bfloat16() -> bool:
    try:
        torch.zeros(1, dtype=torch.bfloat16, device="mps")
    except (RuntimeError, TypeError):
        return False
    return True
