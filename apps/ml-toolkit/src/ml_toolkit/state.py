"""Process-wide CLI settings chosen by root options."""

from dataclasses import dataclass


@dataclass
class CliState:
    debug: bool = False


cli_state = CliState()
