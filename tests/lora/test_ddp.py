"""DistributedDataParallel on 2 CPU processes (gloo) against 1 process, same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).with_name("ddp_worker.py")


def run_worker(out: Path, processes: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if processes == 1:
        command = [sys.executable, str(WORKER), str(out)]
    else:
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={processes}",
            str(WORKER),
            str(out),
        ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=240, env=env, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.slow
def test_two_gloo_processes_match_one(tmp_path):
    single = run_worker(tmp_path / "one.json", 1)
    double = run_worker(tmp_path / "two.json", 2)
    assert single["world_size"] == 1
    assert double["world_size"] == 2
    for arm in ("full", "lora"):
        assert double["losses"][arm] == pytest.approx(single["losses"][arm], rel=1e-4), arm
        # The run must train, or matching losses would prove little.
        assert single["losses"][arm][-1] != single["losses"][arm][0], arm
