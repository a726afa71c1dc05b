"""End-to-end runs of ``ml-toolkit lora``: a study smaller than the quick preset, its
resume, its bad-input errors, the spectrum command, and one quick-preset run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Smaller than --preset quick: a 32-wide base pretrained for 30 steps, 6 finetuning steps.
TINY_FLAGS = (
    "--preset",
    "quick",
    "--base-steps",
    "30",
    "--base-dim",
    "32",
    "--base-hidden-dim",
    "64",
    "--base-vocab-size",
    "512",
    "--steps",
    "3,6",
    "--batch-size",
    "4",
    "--seq-len",
    "80",
    "--ranks",
    "2,4,8",
    "--warmup-steps",
    "1",
    "--eval-rows",
    "8",
    "--source-eval-rows",
    "8",
    "--math-train-problems",
    "200",
    "--math-eval-problems",
    "5",
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def run_lora(cache: Path, *args: str, timeout: int = 400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLTK_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-m", "ml_toolkit", "lora", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@pytest.fixture(scope="module")
def study(cache, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("study")
    result = run_lora(cache, "compare", *TINY_FLAGS, "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, json.loads(result.stdout)


def test_study_covers_every_arm_and_length(study):
    _, payload = study
    arms = {row["arm"] for row in payload["rows"]}
    assert len(arms) == 8
    assert len(payload["rows"]) == 16
    assert all(row["status"] == "finished" for row in payload["rows"])


def test_study_measures_each_run(study):
    _, payload = study
    for row in payload["rows"]:
        assert row["trainable_parameters"] > 0, row["arm"]
        assert row["step_seconds"] > 0, row["arm"]
        assert row["peak_memory_bytes"] > 0, row["arm"]
        assert row["target_accuracy"] is not None, row["arm"]


def test_lora_trains_fewer_parameters(study):
    _, payload = study
    trainable = {row["arm"]: row["trainable_parameters"] for row in payload["rows"]}
    assert (
        trainable["lora-low"] < trainable["lora-mid"] < trainable["lora-high"] < trainable["full"]
    )
    assert trainable["lora-attn"] < trainable["lora-high"]


def test_study_writes_outputs(study):
    out, payload = study
    for name in (
        "results.json",
        "results.csv",
        "report.md",
        "settings.json",
        "base.json",
        "learning-forgetting.png",
        "rank-heatmap.png",
        "spectra.png",
    ):
        assert (out / name).is_file(), name
    assert len(payload["findings"]) == 6
    report = (out / "report.md").read_text()
    assert "reproduced" in report
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 17


def test_rerun_resumes_without_training(study, cache):
    out, _ = study
    run_files = sorted((out / "runs").glob("*.json"))
    stamps = [path.stat().st_mtime_ns for path in run_files]
    result = run_lora(cache, "compare", *TINY_FLAGS, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming" in result.stderr
    assert [path.stat().st_mtime_ns for path in run_files] == stamps


def test_other_settings_need_overwrite(study, cache):
    out, _ = study
    result = run_lora(cache, "compare", *TINY_FLAGS, "--seed", "7", "--out", str(out))
    assert result.returncode == 2
    assert "seed (0 there, 7 now)" in result.stderr
    assert "--overwrite" in result.stderr


def test_spectrum_of_saved_adapter(study, cache):
    out, payload = study
    base_folder = payload["base"]["name"]
    adapter = out / "runs" / f"lora-mid__lr{payload['selected_learning_rates']['lora-mid']:g}"
    result = run_lora(cache, "spectrum", base_folder, str(adapter), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    spectrum = json.loads(result.stdout)
    assert max(matrix["rank90"] for matrix in spectrum["matrices"]) <= 4


def test_spectrum_of_full_checkpoint(study, cache, tmp_path):
    out, payload = study
    full = out / "runs" / f"full__lr{payload['selected_learning_rates']['full']:g}"
    result = run_lora(cache, "spectrum", payload["base"]["name"], str(full), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "spectrum.json").is_file()
    assert (tmp_path / "rank-heatmap.png").is_file()


def test_nan_loss_stops_only_that_arm(cache, tmp_path):
    result = run_lora(
        cache,
        "compare",
        *TINY_FLAGS,
        "--arms",
        "full,lora-low",
        "--full-lrs",
        "1e30",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "full FT at lr 1e+30 stopped: loss is" in result.stderr
    rows = json.loads(result.stdout)["rows"]
    status = {row["arm"]: row["status"] for row in rows}
    assert status == {"full": "diverged", "lora-low": "finished"}


def test_rank_beyond_matrix_is_usage_error(cache, tmp_path):
    result = run_lora(cache, "compare", *TINY_FLAGS, "--ranks", "2,4,64", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "LoRA rank 64 is larger than" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "flags",
    [
        ("--lora-targets", "wq,foo"),
        ("--lora-targets", "wq,output"),
        ("--ranks", "2,8,100"),
        ("--seq-len", "8"),
        ("--arms", "full,lora-huge"),
    ],
)
def test_rejected_settings_leave_out_empty(tmp_path, flags):
    cache = tmp_path / "cache"
    out = tmp_path / "out"
    result = run_lora(cache, "compare", *TINY_FLAGS, *flags, "--out", str(out))
    assert result.returncode == 2, result.stderr[-3000:]
    assert not (out / "settings.json").exists()
    assert not any(path.is_file() for path in cache.rglob("*")), "a base was built first"


def test_short_seq_len_names_given_value(tmp_path):
    result = run_lora(tmp_path, "compare", *TINY_FLAGS, "--seq-len", "8", "--out", str(tmp_path))
    assert "--seq-len 8:" in result.stderr
    assert "9 tokens" not in result.stderr


def test_unknown_arm_is_named(tmp_path):
    result = run_lora(
        tmp_path, "compare", *TINY_FLAGS, "--arms", "full,lora-huge", "--out", str(tmp_path)
    )
    assert "unknown arm in --arms: lora-huge;" in result.stderr
    assert "'full,lora-huge'" not in result.stderr


def test_compare_help_shows_no_rst_markup(cache):
    result = run_lora(cache, "compare", "--help")
    assert result.returncode == 0
    assert "``" not in result.stdout


def test_unknown_target_lists_module_names(cache, tmp_path):
    result = run_lora(
        cache, "compare", *TINY_FLAGS, "--lora-targets", "wq,q_proj", "--out", str(tmp_path)
    )
    assert result.returncode == 2
    assert "'q_proj' matches no module" in result.stderr
    assert "w1, w2, w3, wk, wo, wq, wv" in result.stderr


def test_bad_preset_is_usage_error(cache, tmp_path):
    result = run_lora(cache, "compare", "--preset", "huge", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "invalid preset 'huge'" in result.stderr


# The quick preset takes about 3 minutes on 2 idle cores, so it runs only when
# MLTK_RUN_QUICK_PRESET=1, which .ci/run sets.
@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("MLTK_RUN_QUICK_PRESET") != "1", reason="set MLTK_RUN_QUICK_PRESET=1 to run"
)
def test_quick_preset_runs(cache, tmp_path):
    result = run_lora(cache, "compare", "--preset", "quick", "--out", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert len(payload["rows"]) == 16
    assert all(row["status"] == "finished" for row in payload["rows"])
