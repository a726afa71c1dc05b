import random

import numpy as np
import pytest
import torch

from mltk_core.seeding import seed_everything


def draw() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_same_seed_same_draws():
    seed_everything(7)
    first = draw()
    seed_everything(7)
    assert draw() == first


def test_different_seed_different_draws():
    seed_everything(7)
    first = draw()
    seed_everything(8)
    second = draw()
    assert all(a != b for a, b in zip(first, second, strict=True))


def test_negative_seed_rejected():
    with pytest.raises(ValueError, match="invalid seed -1"):
        seed_everything(-1)


def test_seed_beyond_numpy_range_rejected():
    with pytest.raises(ValueError, match="invalid seed"):
        seed_everything(2**32)
