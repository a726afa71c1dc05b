import json

import pytest
from lora_study.findings import evaluate_findings
from lora_study.results_store import ResultsStore
from lora_study.selection import final_rows, result_rows, select_runs
from mltk_core.errors import UserInputError

SETTINGS = {"seed": 0, "steps": [10, 20], "domain": "math"}


def test_store_resumes_same_settings(tmp_path):
    store = ResultsStore(tmp_path)
    assert store.prepare(SETTINGS, overwrite=False) is False
    store.save_run("full__lr0.001", {"arm": "full"})
    assert store.prepare(SETTINGS, overwrite=False) is True
    assert store.load_run("full__lr0.001") == {"arm": "full"}


def test_store_names_differing_settings(tmp_path):
    store = ResultsStore(tmp_path)
    store.prepare(SETTINGS, overwrite=False)
    store.save_run("full__lr0.001", {"arm": "full"})
    changed = {**SETTINGS, "seed": 3, "domain": "code"}
    with pytest.raises(UserInputError) as error:
        ResultsStore(tmp_path).prepare(changed, overwrite=False)
    assert "seed (0 there, 3 now)" in str(error.value)
    assert "domain ('math' there, 'code' now)" in str(error.value)
    assert "steps" not in str(error.value)


def test_settings_without_runs_do_not_block(tmp_path):
    store = ResultsStore(tmp_path)
    store.prepare(SETTINGS, overwrite=False)
    store.save_base({"source_loss": 1.0})
    changed = {**SETTINGS, "seed": 3}
    assert store.prepare(changed, overwrite=False) is False
    assert json.loads((tmp_path / "settings.json").read_text()) == changed
    assert store.load_base() is None


def test_same_settings_without_runs_keep_base(tmp_path):
    store = ResultsStore(tmp_path)
    store.prepare(SETTINGS, overwrite=False)
    store.save_base({"source_loss": 1.0})
    assert store.prepare(SETTINGS, overwrite=False) is False
    assert store.load_base() == {"source_loss": 1.0}


def test_overwrite_removes_only_study_files(tmp_path):
    store = ResultsStore(tmp_path)
    store.prepare(SETTINGS, overwrite=False)
    store.save_run("full__lr0.001", {"arm": "full"})
    (tmp_path / "notes.txt").write_text("keep")
    store.prepare({**SETTINGS, "seed": 1}, overwrite=True)
    assert store.load_run("full__lr0.001") is None
    assert (tmp_path / "notes.txt").read_text() == "keep"


def run(arm, lr, target_loss, forgetting=0.1, status="finished", method="lora", rank=8):
    length = {
        "steps": 20,
        "tokens": 100,
        "target_loss": target_loss,
        "target_accuracy": None,
        "source_loss": 1.0 + forgetting,
        "forgetting": forgetting,
        "spectrum": {"mean_rank90": 4.0, "mean_rank90_fraction": 0.1, "mean_intruders": 0.0},
    }
    return {
        "arm": arm,
        "label": arm,
        "method": method,
        "rank": rank,
        "alpha": 2 * rank,
        "lr": lr,
        "status": status,
        "trainable_parameters": 10,
        "lengths": [length] if status == "finished" else [],
    }


def test_selection_picks_lowest_target_loss():
    runs = {
        "a": run("lora-mid", 1e-3, 0.9),
        "b": run("lora-mid", 3e-3, 0.7),
        "c": run("lora-mid", 1e-2, 0.8),
    }
    assert select_runs(runs, ["lora-mid"])["lora-mid"]["lr"] == 3e-3


def test_selection_skips_diverged_runs():
    runs = {
        "a": run("full", 1.0, 0.0, status="diverged", method="full"),
        "b": run("full", 1e-3, 0.9, method="full"),
    }
    assert select_runs(runs, ["full"])["full"]["lr"] == 1e-3


def test_all_diverged_arm_gets_diverged_row():
    runs = {"a": run("full", 1.0, 0.0, status="diverged", method="full")}
    rows = result_rows(runs, select_runs(runs, ["full"]))
    assert [row["status"] for row in rows] == ["diverged"]


def test_findings_follow_the_numbers():
    runs = {
        "full": run("full", 1e-3, 0.5, forgetting=0.9, method="full", rank=0),
        "low": run("lora-low", 1e-2, 0.8, forgetting=0.2, rank=2),
        "high": run("lora-high", 1e-2, 0.6, forgetting=0.4, rank=32),
        "attn": run("lora-attn", 1e-2, 0.7, forgetting=0.3, rank=32),
    }
    keys = ["full", "lora-low", "lora-high", "lora-attn"]
    final = final_rows(result_rows(runs, select_runs(runs, keys)))
    verdicts = {f.key: f.reproduced for f in evaluate_findings(final, (2, 8, 32))}
    assert verdicts["learns_less"] is True
    assert verdicts["forgets_less"] is True
    assert verdicts["all_linear"] is True
    assert verdicts["alpha"] is None
    assert verdicts["regularises"] is None
