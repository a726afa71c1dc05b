"""Learning-rate selection and the per-length result rows.

Each arm keeps the rate of its grid with the lowest target-domain held-out
loss at the longest training length, as Biderman et al. pick each method's
best rate; diverged runs are never selected.
"""

from __future__ import annotations

import math


def select_runs(runs: dict[str, dict], arm_keys: list[str]) -> dict[str, dict | None]:
    """Return the selected run of every arm, or None when all its runs diverged."""
    selected: dict[str, dict | None] = {}
    for key in arm_keys:
        candidates = [
            run
            for run in runs.values()
            if run["arm"] == key and run["status"] == "finished" and run["lengths"]
        ]
        finite = [run for run in candidates if math.isfinite(run["lengths"][-1]["target_loss"])]
        selected[key] = (
            min(finite, key=lambda run: run["lengths"][-1]["target_loss"]) if finite else None
        )
    return selected


def result_rows(runs: dict[str, dict], selected: dict[str, dict | None]) -> list[dict]:
    """Flatten every arm's selected run into one row per training length.

    An arm whose runs all diverged gets one row with status ``diverged``.
    """
    rows: list[dict] = []
    for key, run in selected.items():
        if run is None:
            diverged = [r for r in runs.values() if r["arm"] == key]
            first = diverged[0] if diverged else {"arm": key}
            rows.append(
                {
                    "arm": key,
                    "label": first.get("label", key),
                    "method": first.get("method"),
                    "rank": first.get("rank"),
                    "alpha": first.get("alpha"),
                    "status": "diverged",
                    "trainable_parameters": first.get("trainable_parameters"),
                }
            )
            continue
        for length in run["lengths"]:
            rows.append(
                {
                    "arm": run["arm"],
                    "label": run["label"],
                    "method": run["method"],
                    "rank": run["rank"],
                    "alpha": run["alpha"],
                    "lr": run["lr"],
                    "steps": length["steps"],
                    "tokens": length["tokens"],
                    "status": run["status"],
                    "target_loss": length["target_loss"],
                    "target_accuracy": length["target_accuracy"],
                    "humaneval_pass_at_1": length.get("humaneval_pass_at_1"),
                    "source_loss": length["source_loss"],
                    "forgetting": length["forgetting"],
                    "trainable_parameters": run["trainable_parameters"],
                    "peak_memory_bytes": run.get("peak_memory_bytes"),
                    "step_seconds": run.get("step_seconds"),
                    "tokens_per_second": run.get("tokens_per_second"),
                    "mean_rank90": length["spectrum"]["mean_rank90"],
                    "mean_rank90_fraction": length["spectrum"]["mean_rank90_fraction"],
                    "mean_intruders": length["spectrum"]["mean_intruders"],
                }
            )
    return rows


def final_rows(rows: list[dict]) -> dict[str, dict]:
    """Return each arm's row at its longest finished training length."""
    final: dict[str, dict] = {}
    for row in rows:
        if row.get("status") != "finished":
            continue
        if row["arm"] not in final or row["steps"] > final[row["arm"]]["steps"]:
            final[row["arm"]] = row
    return final
