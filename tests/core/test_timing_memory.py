import mmap
import sys
import time

import pytest
import torch
from mltk_core.memory import peak_memory, process_peak_rss_bytes, reset_process_peak_rss
from mltk_core.timing import Timer


def test_timer_measures_sleep():
    with Timer("cpu") as timer:
        time.sleep(0.05)
    assert 0.04 < timer.seconds < 1.0


def test_timer_records_on_exception():
    timer = Timer()
    try:
        with timer:
            time.sleep(0.01)
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert timer.seconds > 0.005


def test_peak_rss_covers_allocation():
    size = 256 * 1024 * 1024
    block = torch.ones(size, dtype=torch.uint8)  # filled, so every page is resident
    assert int(block[-1]) == 1
    # Catches a unit error: ru_maxrss is in KiB on Linux.
    assert process_peak_rss_bytes() >= size


def test_peak_memory_on_cpu_has_no_cuda_reading():
    assert peak_memory(torch.device("cpu")).cuda_max_allocated_bytes is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="resetting the peak needs Linux")
def test_peak_rss_reset_drops_freed_block():
    size = 256 * 1024 * 1024
    # An anonymous mapping returns its pages to the OS on close; malloc may keep freed memory.
    block = mmap.mmap(-1, size)
    block.write(b"\x01" * size)
    peak_with_block = process_peak_rss_bytes()
    block.close()
    assert reset_process_peak_rss()
    assert process_peak_rss_bytes() < peak_with_block - size // 2
