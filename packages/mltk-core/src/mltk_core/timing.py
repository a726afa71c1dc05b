"""Wall-clock timing that is true on GPUs: CUDA kernels run asynchronously, so
the timer synchronises the device before each clock read."""

from __future__ import annotations

import time
from types import TracebackType

import torch

from mltk_core.devices import synchronize


class Timer:
    """Context manager that measures elapsed wall time in seconds.

    >>> with Timer(device) as timer:
    ...     run()
    >>> timer.seconds
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Timer:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start
