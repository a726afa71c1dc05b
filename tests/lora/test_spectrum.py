import torch
from lora_study.spectrum import (
    analyse_updates,
    energy_rank,
    gaussian_rank,
    intruder_count,
    summarise,
)

NAME = "layers.0.attention.wq.weight"


def test_energy_rank_of_known_spectrum():
    # Energies 81, 16, 2, 1 (total 100): the first two hold 97%, the first one 81%.
    assert energy_rank(torch.tensor([9.0, 4.0, 2**0.5, 1.0])) == 2


def test_energy_rank_exact_boundary():
    # Energies 9 and 1: the first holds exactly 90%.
    assert energy_rank(torch.tensor([3.0, 1.0])) == 1


def test_energy_rank_of_zero_update():
    assert energy_rank(torch.zeros(5)) == 0


def test_low_rank_update_has_its_rank():
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(64, 48, generator=generator)
    update = torch.randn(64, 3, generator=generator) @ torch.randn(3, 48, generator=generator)
    spectrum = analyse_updates({NAME: base}, {NAME: base + update})[0]
    assert spectrum.rank90 <= 3
    assert spectrum.full_rank == 48
    assert spectrum.gaussian_rank90 > 20


def test_gaussian_rank_is_large_share():
    assert gaussian_rank((96, 96)) / 96 > 0.5


def test_untouched_matrix_has_rank_zero():
    base = torch.randn(16, 16)
    spectrum = analyse_updates({NAME: base}, {NAME: base.clone()})[0]
    assert spectrum.rank90 == 0
    assert spectrum.intruders == 0
    assert summarise([spectrum])["updated_matrices"] == 0


def test_intruder_is_new_strong_direction():
    generator = torch.Generator().manual_seed(1)
    left, _ = torch.linalg.qr(torch.randn(32, 32, generator=generator))
    right, _ = torch.linalg.qr(torch.randn(32, 32, generator=generator))
    base = left @ torch.diag(torch.linspace(1.0, 0.1, 32)) @ right.T
    # A strong direction spread evenly over all base singular vectors: cosine 1/sqrt(32) with each.
    direction = left.sum(dim=1) / 32**0.5
    intruder = 5.0 * torch.outer(direction, right[:, 0])
    assert intruder_count(base, base + intruder, top_k=10, threshold=0.5) == 1
    assert intruder_count(base, base * 1.1, top_k=10, threshold=0.5) == 0


def test_non_block_weights_are_ignored():
    base = {"tok_embeddings.weight": torch.randn(8, 4), NAME: torch.randn(4, 4)}
    spectra = analyse_updates(base, {key: value + 1 for key, value in base.items()})
    assert [s.name for s in spectra] == ["layers.0.attention.wq"]
