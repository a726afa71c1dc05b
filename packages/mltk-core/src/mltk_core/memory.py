"""Peak-memory readings: the process's peak resident set size, and on a CUDA
device the peak bytes allocated by torch's caching allocator."""

from __future__ import annotations

import resource
import sys
from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class PeakMemory:
    """Peak memory in bytes. ``cuda_max_allocated_bytes`` is None off CUDA."""

    process_rss_bytes: int
    cuda_max_allocated_bytes: int | None

    def to_dict(self) -> dict[str, int | None]:
        return asdict(self)


def process_peak_rss_bytes() -> int:
    """Return this process's peak resident set size since it started or since
    the last successful ``reset_process_peak_rss``.

    Linux reports ``ru_maxrss`` in KiB and macOS in bytes.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def reset_process_peak_rss() -> bool:
    """Reset the peak resident set size to the current one, where the OS allows it.

    Linux 4.0 and later reset it when "5" is written to /proc/self/clear_refs.
    Returns False elsewhere, where the peak keeps covering the whole process.
    """
    try:
        with open("/proc/self/clear_refs", "w") as control:
            control.write("5")
    except OSError:
        return False
    return True


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> PeakMemory:
    cuda_peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return PeakMemory(process_rss_bytes=process_peak_rss_bytes(), cuda_max_allocated_bytes=cuda_peak)
