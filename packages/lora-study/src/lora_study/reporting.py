"""Assemble the study's outputs: results.json and .csv, the plots and report.md."""

from __future__ import annotations

from typing import Any

from lora_study.arms import ArmSpec
from lora_study.findings import Finding, evaluate_findings
from lora_study.plots import plot_learning_forgetting, plot_rank_heatmaps, plot_spectra
from lora_study.results_store import ResultsStore
from lora_study.selection import final_rows, result_rows, select_runs
from lora_study.settings import StudySettings

PLOT_FILES = {
    "learning_forgetting": "learning-forgetting.png",
    "rank_heatmap": "rank-heatmap.png",
    "spectra": "spectra.png",
}


def write_outputs(
    store: ResultsStore,
    settings: StudySettings,
    arms: list[ArmSpec],
    base_record: dict,
    runs: dict[str, dict],
    metadata: dict,
    wall_seconds: float,
) -> dict[str, Any]:
    """Select each arm's rate, test the findings and write every output file.

    Returns the results.json payload.
    """
    selected = select_runs(runs, [arm.key for arm in arms])
    rows = result_rows(runs, selected)
    final = final_rows(rows)
    findings = evaluate_findings(final, settings.ranks)
    arm_matrices = {
        key: (run["label"], run["lengths"][-1]["matrices"])
        for key, run in selected.items()
        if run is not None
    }

    plots = {}
    if final:
        plots["learning_forgetting"] = str(
            plot_learning_forgetting(
                rows, settings.domain, store.out / PLOT_FILES["learning_forgetting"]
            )
        )
        plots["rank_heatmap"] = str(
            plot_rank_heatmaps(arm_matrices, store.out / PLOT_FILES["rank_heatmap"])
        )
        plots["spectra"] = str(plot_spectra(arm_matrices, store.out / PLOT_FILES["spectra"]))

    payload = {
        "settings": settings.to_dict(),
        "metadata": metadata,
        "wall_seconds": wall_seconds,
        "base": base_record,
        "rows": rows,
        "findings": [finding.to_dict() for finding in findings],
        "selected_learning_rates": {
            key: run["lr"] if run else None for key, run in selected.items()
        },
        "runs": [_run_summary(run) for run in runs.values()],
        "spectra": {key: matrices for key, (_, matrices) in arm_matrices.items()},
        "plots": plots,
        "out": str(store.out),
    }
    store.save_results(payload, rows)
    from mltk_core.atomic import atomic_write_text

    atomic_write_text(
        store.out / "report.md",
        report_markdown(settings, base_record, rows, findings, wall_seconds),
    )
    return payload


def _run_summary(run: dict) -> dict:
    """Drop the per-matrix spectra from a run. results.json keeps them for selected runs only."""
    summary = {key: value for key, value in run.items() if key != "lengths"}
    summary["lengths"] = [
        {key: value for key, value in length.items() if key != "matrices"}
        for length in run["lengths"]
    ]
    return summary


def report_markdown(
    settings: StudySettings,
    base: dict,
    rows: list[dict],
    findings: list[Finding],
    wall_seconds: float,
) -> str:
    """Write the report: setup, which findings reproduced with their numbers, and the table."""
    lines = [
        "# LoRA against full finetuning",
        "",
        f'A miniature of Biderman et al., "LoRA Learns Less and Forgets Less" (TMLR 2024, '
        f"arXiv 2405.09673): base `{settings.base}`, domain `{settings.domain}`, regime "
        f"`{settings.regime}`, training lengths {_join(settings.steps)} steps of "
        f"{settings.batch_size} × {settings.seq_len} tokens, LoRA ranks "
        f"{', '.join(str(r) for r in settings.ranks)}. Wall time {wall_seconds:.0f} s.",
        "",
        f"Base model: {base.get('parameters', 0):,} parameters; target held-out loss "
        f"{base.get('target_loss', float('nan')):.4f}, source held-out loss "
        f"{base.get('source_loss', float('nan')):.4f}"
        + (
            f", accuracy {base['target_accuracy']:.3f}"
            if base.get("target_accuracy") is not None
            else ""
        )
        + ".",
        "",
        "## Findings",
        "",
    ]
    for finding in findings:
        verdict = {True: "reproduced", False: "not reproduced", None: "not tested"}[
            finding.reproduced
        ]
        lines.append(f"- **{verdict}**: {finding.claim}. {finding.evidence}.")
    lines += ["", "## Every arm at every training length", "", _markdown_table(rows), ""]
    diverged = sorted({row["label"] for row in rows if row.get("status") == "diverged"})
    if diverged:
        lines += [f"Diverged at every learning rate: {', '.join(diverged)}.", ""]
    lines += [
        "Forgetting is the rise of the source-domain held-out loss over the base model's. "
        "Each arm uses the learning rate of its grid with the lowest target held-out loss at the "
        "longest length. Plots: learning-forgetting.png, rank-heatmap.png, spectra.png.",
        "",
    ]
    return "\n".join(lines)


def _markdown_table(rows: list[dict]) -> str:
    header = (
        "| arm | lr | steps | target loss | accuracy | forgetting | trainable | "
        "peak memory (MiB) | step (ms) | 90% rank share | intruders |"
    )
    columns = header.count("|") - 1
    lines = [header, "|" + "---|" * columns]
    for row in rows:
        if row.get("status") != "finished":
            lines.append(f"| {row['label']} | diverged | | | | | | | | | |")
            continue
        accuracy = "" if row["target_accuracy"] is None else f"{row['target_accuracy']:.3f}"
        memory = row["peak_memory_bytes"] / 2**20 if row.get("peak_memory_bytes") else 0.0
        lines.append(
            f"| {row['label']} | {row['lr']:g} | {row['steps']} | {row['target_loss']:.4f} | "
            f"{accuracy} | "
            f"{row['forgetting']:.4f} | {row['trainable_parameters']:,} | {memory:.0f} | "
            f"{1000 * (row['step_seconds'] or 0):.0f} | {row['mean_rank90_fraction']:.1%} | "
            f"{row['mean_intruders']:.1f} |"
        )
    return "\n".join(lines)


def _join(values) -> str:
    return ", ".join(str(value) for value in values)
