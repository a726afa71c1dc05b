"""Aggregate fold results: mean and standard deviation per dataset and model,
the corrected t-test of ours against each peer, and Friedman ranks across datasets."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from mltk_linearboost.bench.runner import FoldResult
from mltk_linearboost.bench.stats import corrected_resampled_ttest, friedman_test

SCORES = ("f1_weighted", "roc_auc", "accuracy")
TIMES = ("fit_seconds", "fit_cpu_seconds", "predict_seconds", "latency_seconds")
SIGNIFICANCE_LEVEL = 0.05


def summarize(results: list[FoldResult]) -> list[dict[str, Any]]:
    """Return one row per (dataset, model) with the mean and sample std of each metric.

    Failed folds are counted in ``failed_folds`` and left out of the means.
    """
    groups: dict[tuple[str, str], list[FoldResult]] = defaultdict(list)
    for result in results:
        groups[(result.dataset, result.model)].append(result)

    rows = []
    for (dataset, model), group in groups.items():
        finished = [result for result in group if result.error is None]
        row: dict[str, Any] = {
            "dataset": dataset,
            "model": model,
            "folds": len(finished),
            "failed_folds": len(group) - len(finished),
            "first_error": next((r.error for r in group if r.error is not None), None),
        }
        for metric in (*SCORES, *TIMES):
            values = np.array([getattr(result, metric) for result in finished], dtype=np.float64)
            values = values[~np.isnan(values)]
            row[f"{metric}_mean"] = float(values.mean()) if len(values) else None
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else None
        rows.append(row)
    return rows


def compare_with(
    results: list[FoldResult], ours: str, metrics: tuple[str, ...] = SCORES
) -> list[dict[str, Any]]:
    """Test ``ours`` against every other model, per dataset and metric (corrected resampled t-test).

    Only folds where both models finished are paired. A positive mean difference favours ``ours``.
    """
    by_key = {(r.dataset, r.model, r.repeat, r.fold): r for r in results if r.error is None}
    datasets = list(dict.fromkeys(r.dataset for r in results))
    models = list(dict.fromkeys(r.model for r in results))
    if ours not in models:
        return []

    comparisons = []
    for dataset in datasets:
        our_folds = {(k[2], k[3]): r for k, r in by_key.items() if k[0] == dataset and k[1] == ours}
        for peer in models:
            if peer == ours:
                continue
            pairs = [
                (our_folds[split], by_key[(dataset, peer, *split)])
                for split in our_folds
                if (dataset, peer, *split) in by_key
            ]
            for metric in metrics:
                comparison = _compare_pairs(pairs, metric)
                if comparison is not None:
                    comparisons.append(
                        {"dataset": dataset, "model": ours, "peer": peer, **comparison}
                    )
    return comparisons


def _compare_pairs(
    pairs: list[tuple[FoldResult, FoldResult]], metric: str
) -> dict[str, Any] | None:
    kept = [
        (getattr(a, metric), getattr(b, metric), a.n_test / a.n_train)
        for a, b in pairs
        if not (np.isnan(getattr(a, metric)) or np.isnan(getattr(b, metric)))
    ]
    if len(kept) < 2:
        return None
    ours, peers, ratios = (np.array(column) for column in zip(*kept, strict=True))
    test = corrected_resampled_ttest(ours, peers, float(ratios.mean()))
    return {
        "metric": metric,
        "pairs": len(kept),
        "model_mean": float(ours.mean()),
        "peer_mean": float(peers.mean()),
        **test.to_dict(),
        "significant": bool(test.p_value < SIGNIFICANCE_LEVEL),
    }


def rank_across_datasets(
    summary: list[dict[str, Any]], metric: str, higher_is_better: bool
) -> dict[str, Any] | None:
    """Friedman test on the per-dataset means of ``metric``.

    Uses the datasets on which every model has a mean; returns None when
    fewer than 2 such datasets or fewer than 2 models remain.
    """
    models = list(dict.fromkeys(row["model"] for row in summary))
    datasets = list(dict.fromkeys(row["dataset"] for row in summary))
    means = {(row["dataset"], row["model"]): row[f"{metric}_mean"] for row in summary}

    complete = [
        dataset
        for dataset in datasets
        if all(means.get((dataset, model)) is not None for model in models)
    ]
    if len(complete) < 2 or len(models) < 2:
        return None
    scores = np.array([[means[(dataset, model)] for model in models] for dataset in complete])
    result = friedman_test(scores, models, higher_is_better=higher_is_better).to_dict()
    return {"metric": metric, "datasets": complete, **result}
