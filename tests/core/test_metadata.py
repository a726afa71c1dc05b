import datetime as dt

import torch

from mltk_core.metadata import package_versions, run_metadata


def test_metadata_has_required_keys():
    record = run_metadata(torch.device("cpu"), torch.float32)
    for key in ("utc_time", "packages", "device", "dtype", "torch_threads", "cpu_model", "git_commit"):
        assert key in record, key


def test_metadata_time_is_utc():
    record = run_metadata()
    assert dt.datetime.fromisoformat(record["utc_time"]).utcoffset() == dt.timedelta(0)


def test_metadata_dtype_without_prefix():
    assert run_metadata("cpu", torch.bfloat16)["dtype"] == "bfloat16"


def test_missing_distribution_is_none():
    assert package_versions(("no-such-distribution-xyz",)) == {"no-such-distribution-xyz": None}


def test_torch_version_recorded():
    assert package_versions(("torch",))["torch"] == torch.__version__.split("+")[0]
