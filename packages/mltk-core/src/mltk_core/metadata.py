"""Run metadata attached to every result file, so that a number can be traced
to the code, the libraries and the machine that produced it."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any

# Distributions whose versions change results; missing ones are reported as None.
TRACKED_DISTRIBUTIONS = (
    "ml-toolkit",
    "mltk-core",
    "llama3-core",
    "mltk-linearboost",
    "lora-study",
    "torch",
    "numpy",
    "scikit-learn",
    "transformers",
    "peft",
    "xgboost-cpu",
    "xgboost",
    "lightgbm",
    "catboost",
    "tiktoken",
    "gguf",
)


def package_versions(names: tuple[str, ...] = TRACKED_DISTRIBUTIONS) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """Return the CPU's model name from /proc/cpuinfo on Linux, else ``platform.processor()``."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def git_commit(path: str | Path = ".") -> str | None:
    """Return the commit hash of the git checkout at ``path``, or None outside one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def run_metadata(device: Any = None, dtype: Any = None) -> dict[str, Any]:
    """Collect versions, device, dtype, torch threads, CPU, git commit and UTC time."""
    import torch

    return {
        "utc_time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": _cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device) if device is not None else None,
        "device_name": _device_name(device),
        "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "packages": package_versions(),
    }


def _cpu_count() -> int | None:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _device_name(device: Any) -> str | None:
    import torch

    if device is None:
        return None
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return cpu_model()
    return device.type
