"""Spectral analysis of weight updates: the rank each update needs, and intruder dimensions.

For every block matrix W, the update is ΔW = W_finetuned − W_base, taken in
float32. Its spectral energy is the sum of its squared singular values, and
its 90% rank is the fewest singular directions that hold 90% of that energy.
A Gaussian random matrix of the same shape is the baseline of a "full-rank"
update. Intruder dimensions follow Shuttleworth et al., "LoRA vs Full
Fine-tuning: An Illusion of Equivalence" (arXiv 2410.21228): top singular
vectors of W_finetuned whose cosine similarity to every singular vector of
W_base is below a threshold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch

ENERGY_FRACTION = 0.9
# NOTE: the study's defaults for the intruder test (top 10 vectors, similarity
# below 0.5) are one point of the ranges that Shuttleworth et al. sweep.
INTRUDER_TOP_K = 10
INTRUDER_THRESHOLD = 0.5

# Block matrices in Meta's Llama naming: layers.{i}.attention.wq ... feed_forward.w3.
BLOCK_MATRIX = re.compile(r"^layers\.(\d+)\.(attention|feed_forward)\.(\w+)\.weight$")


@dataclass(frozen=True)
class MatrixSpectrum:
    """The spectrum of one block matrix's update."""

    name: str
    layer: int
    module: str
    shape: tuple[int, int]
    full_rank: int
    update_norm: float
    rank90: int
    rank90_fraction: float
    gaussian_rank90: int
    intruders: int
    singular_values: tuple[float, ...]

    def to_dict(self, with_values: bool = True) -> dict:
        record = asdict(self)
        record["shape"] = list(self.shape)
        if not with_values:
            record.pop("singular_values")
        return record


def energy_rank(singular_values: torch.Tensor, fraction: float = ENERGY_FRACTION) -> int:
    """Return the fewest leading singular values whose squares hold ``fraction`` of the total.

    An all-zero spectrum (an untouched matrix) has rank 0.
    """
    energy = singular_values.double().square()
    total = energy.sum()
    if total <= 0:
        return 0
    cumulative = torch.cumsum(energy, dim=0) / total
    # The tolerance keeps an exact 90% from needing one more direction through rounding.
    return (
        int(
            torch.searchsorted(
                cumulative, torch.tensor(fraction - 1e-12, dtype=torch.float64)
            ).item()
        )
        + 1
    )


def gaussian_rank(shape: tuple[int, int], seed: int = 0, fraction: float = ENERGY_FRACTION) -> int:
    """Return the 90% rank of a standard Gaussian matrix of ``shape``."""
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(shape, generator=generator, dtype=torch.float32)
    return energy_rank(torch.linalg.svdvals(matrix), fraction)


def intruder_count(
    base: torch.Tensor,
    finetuned: torch.Tensor,
    top_k: int = INTRUDER_TOP_K,
    threshold: float = INTRUDER_THRESHOLD,
) -> int:
    """Count the top ``top_k`` left singular vectors of ``finetuned`` that no base vector resembles.

    A vector is an intruder when its largest absolute cosine similarity with
    the base matrix's left singular vectors is below ``threshold``.
    """
    base_vectors = torch.linalg.svd(base.float(), full_matrices=False).U  # (out, r)
    tuned_vectors = torch.linalg.svd(finetuned.float(), full_matrices=False).U[:, :top_k]
    # Singular vectors are unit length, so the dot product is the cosine.
    similarity = (tuned_vectors.T @ base_vectors).abs()  # (top_k, r)
    return int((similarity.max(dim=1).values < threshold).sum().item())


def analyse_updates(
    base_weights: Mapping[str, torch.Tensor],
    finetuned_weights: Mapping[str, torch.Tensor],
    top_k: int = INTRUDER_TOP_K,
    threshold: float = INTRUDER_THRESHOLD,
    seed: int = 0,
) -> list[MatrixSpectrum]:
    """Analyse every block matrix present in both weight maps, in layer then module order."""
    spectra: list[MatrixSpectrum] = []
    gaussian_cache: dict[tuple[int, int], int] = {}
    for name in sorted(base_weights, key=_block_order):
        match = BLOCK_MATRIX.match(name)
        if match is None or name not in finetuned_weights:
            continue
        base = base_weights[name].detach().float().cpu()
        tuned = finetuned_weights[name].detach().float().cpu()
        if base.shape != tuned.shape:
            raise ValueError(
                f"{name} has shape {tuple(base.shape)} in the base and "
                f"{tuple(tuned.shape)} after finetuning"
            )
        shape = (base.shape[0], base.shape[1])
        if shape not in gaussian_cache:
            gaussian_cache[shape] = gaussian_rank(shape, seed)
        spectra.append(
            _matrix_spectrum(name, match, base, tuned, gaussian_cache[shape], top_k, threshold)
        )
    return spectra


def _matrix_spectrum(name, match, base, tuned, gaussian_rank90, top_k, threshold) -> MatrixSpectrum:
    update = tuned - base
    values = torch.linalg.svdvals(update)
    rank90 = energy_rank(values)
    full_rank = min(update.shape)
    intruders = intruder_count(base, tuned, top_k, threshold) if rank90 > 0 else 0
    return MatrixSpectrum(
        name=name.removesuffix(".weight"),
        layer=int(match.group(1)),
        module=match.group(3),
        shape=(update.shape[0], update.shape[1]),
        full_rank=full_rank,
        update_norm=float(torch.linalg.matrix_norm(update).item()),
        rank90=rank90,
        rank90_fraction=rank90 / full_rank,
        gaussian_rank90=gaussian_rank90,
        intruders=intruders,
        singular_values=tuple(float(v) for v in values.tolist()),
    )


def _block_order(name: str) -> tuple[int, str]:
    match = BLOCK_MATRIX.match(name)
    return (int(match.group(1)), name) if match else (-1, name)


def summarise(spectra: list[MatrixSpectrum]) -> dict:
    """Average the updated matrices (ΔW ≠ 0): 90% rank, its fraction of full rank, intruders."""
    updated = [s for s in spectra if s.rank90 > 0]
    if not updated:
        return {
            "updated_matrices": 0,
            "mean_rank90": 0.0,
            "mean_rank90_fraction": 0.0,
            "mean_gaussian_rank90_fraction": 0.0,
            "mean_intruders": 0.0,
        }
    count = len(updated)
    return {
        "updated_matrices": count,
        "mean_rank90": sum(s.rank90 for s in updated) / count,
        "mean_rank90_fraction": sum(s.rank90_fraction for s in updated) / count,
        "mean_gaussian_rank90_fraction": sum(s.gaussian_rank90 / s.full_rank for s in updated)
        / count,
        "mean_intruders": sum(s.intruders for s in updated) / count,
    }
