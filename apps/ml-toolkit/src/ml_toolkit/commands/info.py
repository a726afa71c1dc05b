"""``ml-toolkit info``: versions, devices, dtypes and threads of this machine."""

from __future__ import annotations

import typer

from ml_toolkit.options import flag_option
from ml_toolkit.output import human_console, print_json

# Distributions that install the same import package: when one is installed,
# the other's "not installed" row is left out of the table (the JSON keeps both).
SAME_IMPORT = {"xgboost": "xgboost-cpu", "xgboost-cpu": "xgboost"}


def info(
    device: str | None = typer.Option(
        None,
        "--device",
        help="Resolve this device (auto, cpu, cuda, cuda:N, mps) and show it with its dtypes.",
    ),
    json_output: bool = flag_option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Show library versions, available devices and dtypes, and torch threads."""
    import torch
    from mltk_core.devices import available_devices, resolve_device
    from mltk_core.dtypes import dtype_name, resolve_dtype, supported_dtypes
    from mltk_core.metadata import cpu_model, package_versions

    devices = {name: supported_dtypes(torch.device(name)) for name in available_devices()}
    report: dict[str, object] = {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "packages": package_versions(),
        "cpu_model": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "devices": devices,
    }
    if device is not None:
        resolved = resolve_device(device)
        report["resolved_device"] = str(resolved)
        report["resolved_dtypes"] = supported_dtypes(resolved)
        report["auto_dtype"] = dtype_name(resolve_dtype("auto", resolved))

    if json_output:
        print_json(report)
        return
    _print_report(report, human_console(json_output))


def _print_report(report: dict[str, object], console) -> None:
    from rich.table import Table

    console.print(f"torch {report['torch_version']} (CUDA build {report['cuda_version']})")
    console.print(f"CPU: {report['cpu_model']}, torch threads: {report['torch_threads']}")

    devices = Table(title="devices")
    devices.add_column("device")
    devices.add_column("dtypes")
    for name, dtypes in report["devices"].items():
        devices.add_row(name, ", ".join(dtypes))
    console.print(devices)

    if "resolved_device" in report:
        console.print(
            f"resolved device: {report['resolved_device']} "
            f"(auto dtype: {report['auto_dtype']})"
        )

    packages = Table(title="packages")
    packages.add_column("distribution")
    packages.add_column("version")
    versions = report["packages"]
    for name, version in versions.items():
        alternative = SAME_IMPORT.get(name)
        if version is None and alternative is not None and versions.get(alternative) is not None:
            continue
        packages.add_row(name, version or "not installed")
    console.print(packages)
