"""``ml-toolkit boost``: Benchmark LinearBoost against XGBoost, LightGBM and CatBoost on real datasets."""

from __future__ import annotations

import typer

from ml_toolkit.output import not_built_yet

app = typer.Typer(help="Benchmark LinearBoost against XGBoost, LightGBM and CatBoost on real datasets.", no_args_is_help=True)


@app.command("bench")
def bench() -> None:
    """Benchmark LinearBoost against XGBoost, LightGBM and CatBoost on real datasets."""
    not_built_yet("boost bench")
