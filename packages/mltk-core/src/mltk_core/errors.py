"""Exception types that the CLI maps to exit codes.

Kept free of heavy imports so that the CLI can catch them before torch loads.
"""


class UserInputError(ValueError):
    """Invalid input from the user: a bad option value, a missing file, an
    unavailable device. The CLI prints the message on one line and exits 2.

    The message states what was wrong, the value, and what to do next.
    """


class WorkFailedError(RuntimeError):
    """Valid input whose work failed, such as a diverged training run or an
    unreachable download. The CLI prints the message and exits 1."""
