import pytest
import torch
from lora_study.arms import ALL_LINEAR_MODULES, ArmSpec, build_arm_model, check_arms
from lora_study.weights import adapter_updates, block_weights
from mltk_core.errors import UserInputError
from peft.tuners.lora import LoraLayer


def lora_arm(rank=4, targets=ALL_LINEAR_MODULES) -> ArmSpec:
    return ArmSpec("lora-mid", f"LoRA r={rank}", "lora", rank=rank, alpha=2 * rank, targets=targets)


def test_lora_leaves_base_untouched(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    model = build_arm_model(tiny_model, lora_arm())
    for parameter in model.parameters():
        if parameter.requires_grad:
            parameter.data.add_(1.0)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    assert not any(isinstance(m, LoraLayer) for m in tiny_model.modules())


def test_lora_trains_only_adapters(tiny_model):
    model = build_arm_model(tiny_model, lora_arm())
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable
    assert all("lora_" in name for name in trainable)
    frozen = dict(model.named_parameters())
    assert not frozen["base_model.model.tok_embeddings.weight"].requires_grad
    assert not frozen["base_model.model.output.weight"].requires_grad


def test_lora_adapts_every_block_linear(tiny_model):
    model = build_arm_model(tiny_model, lora_arm())
    adapted = [name for name, m in model.named_modules() if isinstance(m, LoraLayer)]
    assert len(adapted) == 2 * len(ALL_LINEAR_MODULES)


def test_attention_arm_adapts_attention_only(tiny_model):
    model = build_arm_model(tiny_model, lora_arm(targets=("wq", "wk", "wv", "wo")))
    adapted = [name for name, m in model.named_modules() if isinstance(m, LoraLayer)]
    assert len(adapted) == 8
    assert all(".attention." in name for name in adapted)


def test_unknown_target_lists_modules(tiny_model):
    with pytest.raises(UserInputError, match="'q_proj' matches no module") as error:
        check_arms(tiny_model, [lora_arm(targets=("wq", "q_proj"))])
    assert "w1, w2, w3, wk, wo, wq, wv" in str(error.value)


def test_unknown_target_lists_only_block_modules(tiny_model):
    with pytest.raises(UserInputError) as error:
        check_arms(tiny_model, [lora_arm(targets=("wq", "foo"))])
    assert "output" not in str(error.value)


def test_output_target_is_rejected(tiny_model):
    with pytest.raises(UserInputError, match="stays frozen"):
        check_arms(tiny_model, [lora_arm(targets=("output",))])


def test_rank_beyond_matrix_is_rejected(tiny_model):
    # wk is (n_kv_heads * head_dim, dim) = (16, 32), so rank 17 does not fit.
    with pytest.raises(UserInputError, match="at most 16"):
        check_arms(tiny_model, [lora_arm(rank=17)])


def test_dropout_arm_sets_dropout(tiny_model):
    arm = ArmSpec("full-dropout", "full FT, dropout 0.2", "full", dropout=0.2)
    model = build_arm_model(tiny_model, arm)
    assert model.layers[0].residual_dropout.p == 0.2
    assert model.layers[0].attention.dropout == 0.2
    assert tiny_model.layers[0].residual_dropout.p == 0.0


def test_merged_weights_match_saved_adapter(tiny_model, tmp_path):
    model = build_arm_model(tiny_model, lora_arm())
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter)
    model.save_pretrained(tmp_path)
    merged = block_weights(model)
    base = block_weights(tiny_model)
    for name, update in adapter_updates(tmp_path).items():
        torch.testing.assert_close(base[name] + update, merged[name])
