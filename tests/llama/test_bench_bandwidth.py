"""Copy and read bandwidth measurement."""

import pytest

from llama3_core.bandwidth import measure_bandwidth


def test_bandwidth_positive():
    result = measure_bandwidth("cpu", buffer_bytes=8 * 2**20, repeats=2)
    assert result.copy_bytes_per_s > 0
    assert result.read_bytes_per_s > 0


def test_bandwidth_buffer_rounded_to_floats():
    result = measure_bandwidth("cpu", buffer_bytes=1_000_003, repeats=1)
    assert result.buffer_bytes == 1_000_000


def test_bandwidth_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats"):
        measure_bandwidth("cpu", buffer_bytes=1024, repeats=0)
