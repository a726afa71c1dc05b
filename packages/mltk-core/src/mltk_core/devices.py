"""Device resolution: one place that turns ``--device`` into a ``torch.device``.

Accepted specs are ``auto``, ``cpu``, ``cuda``, ``cuda:N`` and ``mps``.
``auto`` prefers CUDA, then MPS, then the CPU.
"""

from __future__ import annotations

import torch

from mltk_core.errors import UserInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """List the devices this process can use, in ``auto`` preference order."""
    devices = [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if mps_available():
        devices.append("mps")
    devices.append("cpu")
    return devices


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Resolve a device spec to an available ``torch.device``.

    Raises
    ------
    UserInputError
        If the spec is malformed or names a device that is not available here.
        The message lists the available devices.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    text = spec.strip().lower()

    if text == "auto":
        return torch.device(available_devices()[0])
    if text == "cpu":
        return torch.device("cpu")
    if text == "mps":
        if not mps_available():
            raise _unavailable(spec)
        return torch.device("mps")
    if text == "cuda" or text.startswith("cuda:"):
        return _resolve_cuda(spec, text)

    raise UserInputError(
        f"invalid device {spec!r}: expected one of {', '.join(DEVICE_CHOICES)}; "
        f"available here: {', '.join(available_devices())}"
    )


def _resolve_cuda(spec: str, text: str) -> torch.device:
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if text == "cuda":
        index = 0
    else:
        suffix = text.removeprefix("cuda:")
        if not suffix.isdigit():
            raise UserInputError(
                f"invalid device {spec!r}: the CUDA index must be a non-negative integer, "
                "as in cuda:0"
            )
        index = int(suffix)
    if index >= count:
        raise _unavailable(spec, detail=f"this machine has {count} CUDA device(s)")
    return torch.device("cuda", index)


def _unavailable(spec: str, detail: str = "") -> UserInputError:
    reason = f" ({detail})" if detail else ""
    return UserInputError(
        f"device {spec!r} is not available{reason}; "
        f"available devices: {', '.join(available_devices())}. Pass one of them with --device."
    )


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on ``device``, so that a clock read after it is true."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
