"""Kernel approximations that give SEFR non-linear boundaries.

An explicit feature map approximates the RBF kernel exp(-gamma * ||x - x'||^2),
so the linear weak learner works in the mapped space: random Fourier features
(Rahimi and Recht, "Random Features for Large-Scale Kernel Machines", NIPS 2007)
or the Nyström method (Williams and Seeger, NIPS 2001), both as implemented by
scikit-learn. The map runs on the scaled features and is followed by another
min-max scaling, because SEFR assumes non-negative features.
"""

from __future__ import annotations

KERNEL_CHOICES = ("rff", "nystroem")


def make_kernel_map(
    kind: str, n_components: int, gamma: float | None, n_features: int, random_state: int
):
    """Return the unfitted feature map for ``kind``, seeded by ``random_state``.

    ``gamma=None`` uses 1 / n_features, the usual default on features in [0, 1].
    """
    from sklearn.kernel_approximation import Nystroem, RBFSampler

    gamma = 1.0 / n_features if gamma is None else gamma
    if kind == "rff":
        return RBFSampler(gamma=gamma, n_components=n_components, random_state=random_state)
    if kind == "nystroem":
        return Nystroem(
            kernel="rbf", gamma=gamma, n_components=n_components, random_state=random_state
        )
    raise ValueError(
        f"invalid kernel_approximation {kind!r}: "
        f"expected None or one of {', '.join(KERNEL_CHOICES)}"
    )
