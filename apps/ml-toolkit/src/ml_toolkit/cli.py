"""The ``ml-toolkit`` Typer application.

Commands import torch and the capability packages inside their bodies, so that
``ml-toolkit --help`` and each ``--help`` stay well under a second.
"""

from __future__ import annotations

import sys
import traceback

import typer
from mltk_core.errors import UserInputError, WorkFailedError

from ml_toolkit.commands import boost, info, llama, llama_inspect, lora
from ml_toolkit.options import flag_option
from ml_toolkit.state import cli_state

app = typer.Typer(
    name="ml-toolkit",
    help="Llama 3 from scratch, LinearBoost against gradient boosting, and LoRA against full finetuning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
llama.app.command("explain")(llama_inspect.explain)
llama.app.command("bench")(llama_inspect.bench)
app.add_typer(llama.app, name="llama")
app.add_typer(boost.app, name="boost")
app.add_typer(lora.app, name="lora")
app.command("info")(info.info)


@app.callback()
def root(
    debug: bool = flag_option(
        False, "--debug", help="Show the full traceback when a command fails."
    ),
) -> None:
    cli_state.debug = debug


def main() -> None:
    """Run the app and map errors to exit codes: 2 for invalid input, 1 for failed work."""
    try:
        app()
    except UserInputError as error:
        _report(error, exit_code=2)
    except WorkFailedError as error:
        _report(error, exit_code=1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(130)


def _report(error: Exception, exit_code: int) -> None:
    # --debug adds the traceback but keeps the exit code, so scripts see the same result.
    if cli_state.debug:
        traceback.print_exc()
    print(f"error: {error}", file=sys.stderr)
    sys.exit(exit_code)
