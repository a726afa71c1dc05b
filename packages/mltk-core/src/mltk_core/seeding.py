"""One seed for every random number generator a run touches."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and all GPUs).

    Raises ``ValueError`` for a seed outside [0, 2**32 - 1], NumPy's accepted range.
    """
    if not 0 <= seed < 2**32:
        raise ValueError(f"invalid seed {seed}: expected an integer in [0, 2**32 - 1]")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
