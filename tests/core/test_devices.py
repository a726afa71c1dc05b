import pytest
import torch

from mltk_core.devices import available_devices, resolve_device
from mltk_core.errors import UserInputError


def fake_cuda(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_cpu_resolves_to_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


def test_auto_without_gpu_is_cpu(monkeypatch):
    fake_cuda(monkeypatch, 0)
    monkeypatch.setattr("mltk_core.devices.mps_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_prefers_cuda(monkeypatch):
    fake_cuda(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda", 0)


def test_auto_prefers_mps_over_cpu(monkeypatch):
    fake_cuda(monkeypatch, 0)
    monkeypatch.setattr("mltk_core.devices.mps_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


def test_cuda_index_within_count(monkeypatch):
    fake_cuda(monkeypatch, 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


def test_cuda_index_beyond_count_names_device(monkeypatch):
    fake_cuda(monkeypatch, 2)
    with pytest.raises(UserInputError, match=r"'cuda:2' is not available \(this machine has 2"):
        resolve_device("cuda:2")


def test_cuda_missing_lists_available(monkeypatch):
    fake_cuda(monkeypatch, 0)
    monkeypatch.setattr("mltk_core.devices.mps_available", lambda: False)
    with pytest.raises(UserInputError) as caught:
        resolve_device("cuda")
    assert "'cuda'" in str(caught.value)
    assert "available devices: cpu" in str(caught.value)


def test_malformed_cuda_index_rejected(monkeypatch):
    fake_cuda(monkeypatch, 1)
    with pytest.raises(UserInputError, match="non-negative integer"):
        resolve_device("cuda:x")


def test_unknown_device_rejected():
    with pytest.raises(UserInputError, match="invalid device 'tpu'"):
        resolve_device("tpu")


def test_mps_unavailable_rejected(monkeypatch):
    monkeypatch.setattr("mltk_core.devices.mps_available", lambda: False)
    with pytest.raises(UserInputError, match="'mps' is not available"):
        resolve_device("mps")


def test_available_devices_end_with_cpu():
    assert available_devices()[-1] == "cpu"


def test_device_object_accepted():
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
