"""``ml-toolkit lora``: Compare LoRA with full finetuning: what each learns, forgets, and the rank of its update."""

from __future__ import annotations

import typer

from ml_toolkit.output import not_built_yet

app = typer.Typer(help="Compare LoRA with full finetuning: what each learns, forgets, and the rank of its update.", no_args_is_help=True)


@app.command("compare")
def compare() -> None:
    """Compare LoRA with full finetuning: what each learns, forgets, and the rank of its update."""
    not_built_yet("lora compare")
