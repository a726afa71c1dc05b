import pytest
import torch

from mltk_core.dtypes import dtype_name, resolve_dtype, supported_dtypes
from mltk_core.errors import UserInputError

CPU = torch.device("cpu")


def test_auto_on_cpu_is_bfloat16():
    assert resolve_dtype("auto", CPU) == torch.bfloat16


def test_auto_without_bfloat16_is_float32(monkeypatch):
    monkeypatch.setattr("mltk_core.dtypes.supported_dtypes", lambda device: ["float32"])
    assert resolve_dtype("auto", CPU) == torch.float32


@pytest.mark.parametrize(
    ("name", "expected"),
    [("float32", torch.float32), ("bfloat16", torch.bfloat16), ("float16", torch.float16)],
)
def test_named_dtypes_resolve(name, expected):
    assert resolve_dtype(name, CPU) == expected


def test_torch_dtype_accepted():
    assert resolve_dtype(torch.float32, CPU) == torch.float32


def test_unknown_dtype_rejected():
    with pytest.raises(UserInputError, match="invalid dtype 'float8'"):
        resolve_dtype("float8", CPU)


def test_unsupported_dtype_lists_supported(monkeypatch):
    monkeypatch.setattr("mltk_core.dtypes.supported_dtypes", lambda device: ["float32"])
    with pytest.raises(UserInputError, match="supported there: float32"):
        resolve_dtype("bfloat16", CPU)


def test_cpu_supports_float32_first():
    assert supported_dtypes(CPU)[0] == "float32"


def test_dtype_name_strips_prefix():
    assert dtype_name(torch.bfloat16) == "bfloat16"
