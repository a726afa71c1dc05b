"""End-to-end runs of the CLI as a user starts it: a separate process, real exit codes."""

import json
import subprocess
import sys

import pytest


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_toolkit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_lists_command_groups():
    result = run_cli("--help")
    assert result.returncode == 0
    for group in ("llama", "boost", "lora", "info"):
        assert group in result.stdout, group


HEAVY_MODULES = ("torch", "peft", "transformers", "xgboost", "lightgbm", "catboost", "sklearn")


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["llama", "--help"], ["boost", "--help"], ["lora", "--help"], ["info", "--help"]],
)
def test_help_imports_no_heavy_module(argv):
    probe = (
        "import sys\n"
        "from ml_toolkit.cli import app\n"
        f"try:\n    app({argv!r})\nexcept SystemExit:\n    pass\n"
        f"loaded = [m for m in {HEAVY_MODULES!r} if m in sys.modules]\n"
        "print('LOADED:' + ','.join(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    marker_lines = [line for line in result.stderr.splitlines() if line.startswith("LOADED:")]
    assert marker_lines, result.stderr
    loaded = marker_lines[-1].removeprefix("LOADED:")
    assert loaded == "", f"`ml-toolkit {' '.join(argv)}` imported {loaded}"


def test_info_json_is_valid():
    result = run_cli("info", "--json", "--device", "cpu")
    report = json.loads(result.stdout)
    assert result.returncode == 0
    assert report["torch_version"]
    assert report["resolved_device"] == "cpu"


def test_info_unavailable_device_exits_2():
    result = run_cli("info", "--device", "cuda:7")
    assert result.returncode == 2
    assert "cuda:7" in result.stderr
    assert "available devices" in result.stderr
    assert "Traceback" not in result.stderr


def test_info_unavailable_device_one_line():
    result = run_cli("info", "--device", "cuda:7")
    assert len(result.stderr.strip().splitlines()) == 1


def test_debug_shows_traceback():
    result = run_cli("--debug", "info", "--device", "cuda:7")
    assert "Traceback" in result.stderr


def test_debug_keeps_exit_code():
    result = run_cli("--debug", "info", "--device", "cuda:7")
    assert result.returncode == 2


def test_unknown_command_exits_2():
    result = run_cli("no-such-command")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_unknown_option_exits_2():
    result = run_cli("info", "--no-such-option")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["info", "--help"],
        ["llama", "generate", "--help"],
        ["llama", "bench", "--help"],
        ["boost", "bench", "--help"],
        ["lora", "compare", "--help"],
    ],
)
def test_help_flags_show_no_value_type(argv):
    result = run_cli(*argv)
    # Typer's own --help line keeps its <bool>, but no other flag may show one.
    flag_lines = [line for line in result.stdout.splitlines() if "<bool>" in line and "--help" not in line]
    assert result.returncode == 0
    assert flag_lines == []


def test_info_hides_missing_xgboost_twin():
    result = run_cli("info")
    xgboost_rows = [line for line in result.stdout.splitlines() if "xgboost" in line]
    assert result.returncode == 0
    assert len(xgboost_rows) == 1
    assert "not installed" not in xgboost_rows[0]
