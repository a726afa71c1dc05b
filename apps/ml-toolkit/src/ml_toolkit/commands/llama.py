"""``ml-toolkit llama``: Generate text with Llama 3 written from scratch (default model: SmolLM2-135M-Instruct)."""

from __future__ import annotations

import typer

from ml_toolkit.output import not_built_yet

app = typer.Typer(help="Generate text with Llama 3 written from scratch (default model: SmolLM2-135M-Instruct).", no_args_is_help=True)


@app.command("generate")
def generate() -> None:
    """Generate text with Llama 3 written from scratch (default model: SmolLM2-135M-Instruct)."""
    not_built_yet("llama generate")
