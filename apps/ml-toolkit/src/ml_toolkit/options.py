"""Option builders and option checks shared by the commands."""

from __future__ import annotations

from typing import Any

import typer
from mltk_core.errors import UserInputError


def flag_option(default: Any, *param_decls: str, **kwargs: Any) -> Any:
    """Declare a boolean flag, such as ``--json`` or ``--chat/--no-chat``.

    Typer 0.29 prints a ``<bool>`` type after every option in ``--help``, which
    reads as if a flag took a value. An empty metavar leaves that column blank.
    """
    return typer.Option(default, *param_decls, metavar="", **kwargs)


def resolve_onednn(requested: bool | None, device, dtype, incompatible: bool = False) -> bool:
    """Decide whether to reorder Linear weights for oneDNN (``--onednn/--no-onednn``).

    ``None`` means on where the device and dtype allow it and no ``incompatible``
    option (``--compile``, ``--quantize``) is set. Raises ``UserInputError`` for
    an explicit ``--onednn`` that cannot apply.
    """
    from llama3_core.onednn_linear import onednn_linear_available
    from mltk_core.dtypes import dtype_name

    usable = device.type == "cpu" and onednn_linear_available(dtype)
    if requested is None:
        return usable and not incompatible
    if requested and not usable:
        raise UserInputError(
            f"--onednn needs a CPU and float32 or bfloat16 that this build of PyTorch supports, "
            f"got {device} and {dtype_name(dtype)}: pass --dtype float32 or bfloat16, or drop --onednn"
        )
    return requested
