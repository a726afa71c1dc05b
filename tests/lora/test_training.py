import pytest
import torch
from lora_study.distributed import WorldInfo
from lora_study.token_rows import TokenRows
from lora_study.training import TrainConfig, TrainingDiverged, lr_factor, masked_loss_sum, train


def random_rows(count=32, seq_len=16, vocab=300, seed=0) -> TokenRows:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(3, vocab, (count, seq_len + 1), generator=generator)
    # Make the data learnable: every odd position repeats the token before it.
    tokens[:, 1::2] = tokens[:, 0:-1:2]
    mask = torch.zeros(count, seq_len, dtype=torch.bool)
    mask[:, 0::2] = True  # targets at odd token positions
    return TokenRows(tokens, mask)


def test_loss_decreases(tiny_model):
    rows = random_rows()
    stats = train(
        tiny_model,
        rows,
        TrainConfig(steps=30, batch_size=8, lr=3e-3),
        torch.device("cpu"),
        WorldInfo(),
    )
    assert stats.losses[-1] < stats.losses[0] - 0.5


def test_masked_loss_matches_manual(tiny_model):
    rows = random_rows(count=4)
    total, count = masked_loss_sum(tiny_model, rows)
    logits = tiny_model(rows.tokens[:, :-1])
    manual = torch.nn.functional.cross_entropy(
        logits[rows.loss_mask], rows.tokens[:, 1:][rows.loss_mask], reduction="sum"
    )
    assert count == int(rows.loss_mask.sum())
    torch.testing.assert_close(total, manual)


def test_micro_batches_match_whole_batch(tiny_model):
    import copy

    rows = random_rows()
    whole = copy.deepcopy(tiny_model)
    micro = copy.deepcopy(tiny_model)
    cpu, world = torch.device("cpu"), WorldInfo()
    first = train(whole, rows, TrainConfig(steps=3, batch_size=8, lr=1e-3), cpu, world)
    second = train(
        micro, rows, TrainConfig(steps=3, batch_size=8, lr=1e-3, micro_batch_size=3), cpu, world
    )
    assert first.losses == pytest.approx(second.losses, rel=1e-5)


def test_nan_loss_stops_before_update(tiny_model):
    rows = random_rows()
    config = TrainConfig(steps=10, batch_size=8, lr=1e30, grad_clip=0.0)
    with pytest.raises(TrainingDiverged) as error:
        train(tiny_model, rows, config, torch.device("cpu"), WorldInfo())
    assert error.value.step >= 2
    assert "loss is nan" in str(error.value) or "loss is inf" in str(error.value)


def test_checkpoints_run_after_their_steps(tiny_model):
    seen = []
    train(
        tiny_model,
        random_rows(),
        TrainConfig(steps=6, batch_size=4, lr=1e-3),
        torch.device("cpu"),
        WorldInfo(),
        on_checkpoint=seen.append,
        checkpoints=(2, 6),
    )
    assert seen == [2, 6]


def test_schedule_warms_up_then_decays():
    config = TrainConfig(steps=100, batch_size=1, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, config) == pytest.approx(0.1)
    assert lr_factor(9, config) == pytest.approx(1.0)
    assert lr_factor(100, config) == pytest.approx(0.1)
    assert lr_factor(55, config) == pytest.approx(0.55)
