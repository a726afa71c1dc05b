"""The study's output folder: settings, one file per finished run, and the tables.

Layout of ``--out``::

    settings.json        the settings every file below was made with
    base.json            the base model's metrics before finetuning
    runs/<run>.json      one finished (arm, learning rate) run, all training lengths
    results.json/.csv    every arm at every training length, at its selected rate
    report.md, *.png     the report and its plots

Every file is written atomically, so a rerun of the same command resumes
from the finished runs.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

from mltk_core.atomic import atomic_write_json, atomic_write_text
from mltk_core.errors import UserInputError

from lora_study.settings import differing_settings

OUTPUT_FILES = ("settings.json", "base.json", "results.json", "results.csv", "report.md")
CSV_COLUMNS = (
    "arm",
    "label",
    "method",
    "rank",
    "alpha",
    "lr",
    "steps",
    "tokens",
    "status",
    "target_loss",
    "target_accuracy",
    "humaneval_pass_at_1",
    "source_loss",
    "forgetting",
    "trainable_parameters",
    "peak_memory_bytes",
    "step_seconds",
    "tokens_per_second",
    "mean_rank90",
    "mean_rank90_fraction",
    "mean_intruders",
)


class ResultsStore:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.runs_dir = out / "runs"

    def prepare(self, settings: dict[str, Any], overwrite: bool) -> bool:
        """Check or write ``settings.json``; return True when earlier runs are resumed.

        Raises ``UserInputError`` when the folder contains results of other settings
        and ``overwrite`` is False. With ``overwrite``, or when the folder contains other
        settings but no finished run, the study's own files are removed first; other
        files in the folder are left alone.
        """
        path = self.out / "settings.json"
        if path.is_file() and not overwrite:
            if not differing_settings(json.loads(path.read_text()), settings):
                return self.has_runs()
            self.check_settings(settings)
        if overwrite or path.is_file():
            # Either --overwrite, or settings of a study that finished no run.
            self._clear()
        atomic_write_json(path, settings)
        return False

    def check_settings(self, settings: dict[str, Any]) -> None:
        """Raise ``UserInputError`` naming each setting that differs from ``settings.json``."""
        path = self.out / "settings.json"
        if not path.is_file() or not self.has_runs():
            return
        differences = differing_settings(json.loads(path.read_text()), settings)
        if differences:
            raise UserInputError(
                f"--out {self.out} contains results made with other settings: "
                f"{'; '.join(differences)}. "
                "Pass --overwrite to replace them, or choose another --out"
            )

    def has_runs(self) -> bool:
        """Return whether any (arm, learning rate) run has finished in this folder.

        A folder with settings.json but no finished run contains nothing worth
        keeping, so it does not block a study with other settings.
        """
        return any(self.runs_dir.glob("*.json"))

    def _clear(self) -> None:
        for name in OUTPUT_FILES:
            (self.out / name).unlink(missing_ok=True)
        for plot in self.out.glob("*.png"):
            plot.unlink()
        shutil.rmtree(self.runs_dir, ignore_errors=True)

    def run_path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.json"

    def load_run(self, run_id: str) -> dict | None:
        path = self.run_path(run_id)
        return json.loads(path.read_text()) if path.is_file() else None

    def save_run(self, run_id: str, record: dict) -> None:
        atomic_write_json(self.run_path(run_id), record)

    def load_base(self) -> dict | None:
        path = self.out / "base.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def save_base(self, record: dict) -> None:
        atomic_write_json(self.out / "base.json", record)

    def save_results(self, payload: dict, rows: list[dict]) -> None:
        atomic_write_json(self.out / "results.json", payload)
        atomic_write_text(self.out / "results.csv", rows_to_csv(rows))


def rows_to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({key: "" if row.get(key) is None else row.get(key) for key in CSV_COLUMNS})
    return buffer.getvalue()
