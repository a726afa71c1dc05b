"""Checks of the study settings that run before any model is built or file written."""

import pytest
from lora_study.settings import ARM_KEYS, settings_from_preset
from mltk_core.errors import UserInputError


def settings_error(**overrides) -> str:
    with pytest.raises(UserInputError) as error:
        settings_from_preset("quick", overrides)
    return str(error.value)


def test_short_seq_len_names_given_value():
    message = settings_error(seq_len=8)
    assert "--seq-len 8:" in message
    assert "9" not in message


def test_unknown_arm_is_named_alone():
    message = settings_error(arms=("full", "lora-huge"))
    assert "unknown arm in --arms: lora-huge;" in message
    assert "full," not in message.split(";")[0]


def test_unknown_arm_lists_valid_arms():
    assert ", ".join(ARM_KEYS) in settings_error(arms=("lora-huge",))


def test_output_target_is_rejected():
    assert "stays frozen" in settings_error(lora_targets=("wq", "output"))


def test_unknown_target_lists_block_modules():
    message = settings_error(lora_targets=("wq", "foo"))
    assert "'foo' matches no module" in message
    assert "output" not in message


def test_rank_beyond_tiny_matrix_is_rejected():
    # The quick base is 64 wide with 4 heads and 2 key/value heads: wk is 32 x 64.
    message = settings_error(ranks=(2, 8, 100))
    assert "LoRA rank 100 is larger than" in message
    assert "at most 32" in message


def test_attention_arm_rank_is_checked():
    # lora-attn adapts wk (32 x 64) at the high rank even when the targets are w1 only.
    message = settings_error(ranks=(2, 8, 40), lora_targets=("w1",), arms=("lora-attn",))
    assert "at most 32" in message


def test_valid_settings_pass():
    assert settings_from_preset("quick", {"ranks": (2, 8, 32)}).ranks == (2, 8, 32)
