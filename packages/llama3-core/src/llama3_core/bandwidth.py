"""Memory bandwidth of a device, measured in the same process as a benchmark.

Batch-1 decode reads every weight once per token and does little arithmetic
per byte, so its speed limit is memory bandwidth: tokens/s can be at most
bandwidth / weight bytes per token. That limit is the roofline that
``llama bench`` compares its decode speed with.

Two readings:

- copy bandwidth: ``dst.copy_(src)`` of a buffer much larger than the CPU
  caches, counted as in the STREAM benchmark (bytes read plus bytes written);
- read bandwidth: a sum over the same buffer, which reads each byte once.
  Decode only reads weights, so this is the closer bound on a GPU, where a
  reduction runs at full memory speed. On a CPU a two-thread reduction is
  compute-bound, so there the copy figure is the one to compare with.

Each reading is the best of several repeats, because a shared machine's
background load only ever slows a run down.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

from mltk_core.devices import synchronize

# 256 MiB: far larger than any CPU's last-level cache, and larger than a GPU's L2.
DEFAULT_BUFFER_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Bandwidth:
    """Measured bandwidth in bytes per second."""

    copy_bytes_per_s: float
    read_bytes_per_s: float
    buffer_bytes: int
    repeats: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _best_seconds(run, device: torch.device, repeats: int) -> float:
    run()  # warm-up: page faults and lazy allocations
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def measure_bandwidth(
    device: torch.device | str = "cpu",
    buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    repeats: int = 10,
) -> Bandwidth:
    """Measure copy and read bandwidth on ``device`` with a ``buffer_bytes`` buffer."""
    if buffer_bytes < 4 or repeats < 1:
        raise ValueError(f"buffer_bytes must be >= 4 and repeats >= 1, got {buffer_bytes} and {repeats}")
    device = torch.device(device)
    count = buffer_bytes // 4
    source = torch.ones(count, dtype=torch.float32, device=device)
    target = torch.empty_like(source)
    size = count * 4

    copy_seconds = _best_seconds(lambda: target.copy_(source), device, repeats)
    read_seconds = _best_seconds(lambda: source.sum(), device, repeats)

    return Bandwidth(
        copy_bytes_per_s=2 * size / copy_seconds,
        read_bytes_per_s=size / read_seconds,
        buffer_bytes=size,
        repeats=repeats,
    )
