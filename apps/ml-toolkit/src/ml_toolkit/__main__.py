"""Entry point for ``python -m ml_toolkit``, which ``torchrun -m ml_toolkit`` uses."""

from ml_toolkit.cli import main

main()
