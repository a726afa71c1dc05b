"""llama bench building blocks: prompt ids, weight bytes, the greedy loop and the static decode step."""

import copy

import pytest
import torch

from llama3_core.bench import (
    OursRunner,
    add_roofline,
    bench_prompt_ids,
    compare_greedy,
    greedy_texts,
    decode_weight_bytes,
    greedy_ours,
    run_interleaved,
    static_decode_step,
)
from llama3_core.config import ModelConfig
from llama3_core.model import Transformer
from llama3_core.quantize import quantize_linears_int8

DIM, HIDDEN, VOCAB, N_LAYERS = 64, 96, 97, 2


def tiny_model(**changes) -> Transformer:
    torch.manual_seed(0)
    settings = dict(dim=DIM, n_layers=N_LAYERS, n_heads=4, n_kv_heads=2, vocab_size=VOCAB, hidden_dim=HIDDEN, max_seq_len=64)
    settings.update(changes)
    return Transformer(ModelConfig(**settings)).eval()


def test_prompt_rows_shifted_by_one():
    ids = bench_prompt_ids(lambda text: list(range(10)), prompt_tokens=25, batch_size=3)
    assert ids.shape == (3, 25)
    assert torch.equal(ids[1, :-1], ids[0, 1:])
    assert ids[0, 10].item() == 0


def test_prompt_rejects_zero_tokens():
    with pytest.raises(ValueError, match="prompt_tokens"):
        bench_prompt_ids(lambda text: [1], prompt_tokens=0, batch_size=1)


def test_weight_bytes_untied_float32():
    model = tiny_model()
    per_layer = DIM * DIM + 2 * (DIM * DIM // 2) + DIM * DIM + 3 * DIM * HIDDEN + 2 * DIM
    expected = 4 * (N_LAYERS * per_layer + DIM + VOCAB * DIM)
    assert decode_weight_bytes(model) == expected


def test_weight_bytes_tied_counts_output_once():
    assert decode_weight_bytes(tiny_model(tie_embeddings=True)) == decode_weight_bytes(tiny_model())


def test_weight_bytes_int8_about_quarter():
    model = tiny_model()
    before = decode_weight_bytes(model)
    quantize_linears_int8(model)
    after = decode_weight_bytes(model)
    assert after < 0.3 * before


def test_greedy_equals_full_recompute():
    model = tiny_model()
    prompt = torch.tensor([[3, 14, 15, 92, 65]])
    generated, _, _ = greedy_ours(model, prompt, new_tokens=6)
    sequence = prompt
    with torch.no_grad():
        for _ in range(6):
            next_id = model(sequence)[:, -1].argmax(dim=-1, keepdim=True)
            sequence = torch.cat([sequence, next_id], dim=1)
    assert torch.equal(generated, sequence[:, 5:])


def test_static_step_equals_cached_forward():
    model = tiny_model()
    prompt = torch.tensor([[3, 14, 15, 92, 65], [2, 71, 82, 81, 82]])
    step = static_decode_step(model)
    with torch.no_grad():
        cache = model.new_cache(2, 16)
        model(prompt, torch.arange(5), cache)
        expected = model(prompt[:, :1], torch.tensor([5]), cache)
        cache = model.new_cache(2, 16)
        model(prompt, torch.arange(5), cache)
        got = step(prompt[:, :1], torch.tensor([5]), cache)
    assert torch.allclose(got, expected, atol=1e-5)


def test_runner_reports_aggregate_tokens():
    model = tiny_model()
    prompt = torch.randint(0, VOCAB, (2, 6))
    results = run_interleaved([OursRunner(model, prompt, new_tokens=5)], repeats=2, device=torch.device("cpu"))
    result = results["ours"]
    assert result.decode_steps == 4
    assert result.decode_tokens_per_s > 0
    assert result.prefill_tokens_per_s > 0
    assert len(result.generated_ids) == 5


def test_roofline_uses_steps_not_tokens():
    model = tiny_model()
    prompt = torch.randint(0, VOCAB, (2, 6))
    result = run_interleaved([OursRunner(model, prompt, new_tokens=3)], repeats=1, device=torch.device("cpu"))["ours"]
    add_roofline(result, batch_size=2, weight_bytes=1000, bandwidth_bytes_per_s=1e6)
    assert result.effective_bandwidth_bytes_per_s == pytest.approx(1000 * result.decode_tokens_per_s / 2)
    assert result.roofline_fraction == pytest.approx(result.effective_bandwidth_bytes_per_s / 1e6)


def test_compare_greedy_finds_first_difference():
    reference = {"p": {"ids": [1, 2, 3, 4], "text": "abcd"}}
    candidate = {"p": {"ids": [1, 2, 9, 4], "text": "abzd"}}
    result = compare_greedy(reference, candidate)["p"]
    assert result["equal"] is False
    assert result["first_difference"] == 2


def test_fused_logits_equal_unfused():
    model = tiny_model()
    fused = copy.deepcopy(model).fuse_projections()
    tokens = torch.randint(0, VOCAB, (2, 9))
    with torch.no_grad():
        assert torch.allclose(fused(tokens), model(tokens), atol=1e-6)


def test_fused_decode_equals_unfused():
    model = tiny_model()
    fused = copy.deepcopy(model).fuse_projections()
    prompt = torch.tensor([[3, 14, 15, 92, 65]])
    expected, _, _ = greedy_ours(model, prompt, new_tokens=6)
    got, _, _ = greedy_ours(fused, prompt, new_tokens=6)
    assert torch.equal(got, expected)


def test_fused_parameter_names():
    names = {name for name, _ in tiny_model().fuse_projections().named_parameters()}
    assert "layers.0.attention.wqkv.weight" in names
    assert "layers.0.feed_forward.w13.weight" in names
    assert "layers.0.attention.wq.weight" not in names
    assert "layers.0.feed_forward.w1.weight" not in names


def test_fused_int8_quantizes_stacked_layers():
    model = tiny_model().fuse_projections()
    assert quantize_linears_int8(model) == 2 * 4 + 1


def test_last_only_logits_equal_last_column():
    model = tiny_model()
    tokens = torch.randint(0, VOCAB, (2, 7))
    with torch.no_grad():
        full = model(tokens, torch.arange(7), model.new_cache(2, 8))
        last = model(tokens, torch.arange(7), model.new_cache(2, 8), last_only=True)
    assert last.shape == (2, 1, VOCAB)
    assert torch.allclose(last, full[:, -1:], atol=1e-6)


def test_compare_greedy_reports_reference_gap_at_difference():
    reference = {"p": {"ids": [1, 2, 3], "text": "abc", "top2_gaps": [2.0, 0.5, 0.0]}}
    candidate = {"p": {"ids": [1, 7, 3], "text": "azc"}}
    result = compare_greedy(reference, candidate)["p"]
    assert result["reference_gap_at_difference"] == 0.5
    assert result["smallest_reference_gap"] == 0.0


def test_greedy_texts_gap_per_token():
    model = tiny_model()
    result = greedy_texts(model, {"p": [3, 14, 15]}, decode=lambda ids: "", tokens=5)["p"]
    assert len(result["top2_gaps"]) == 5
    assert min(result["top2_gaps"]) >= 0.0


def test_greedy_on_logits_sees_each_chosen_token():
    model = tiny_model()
    seen = []
    ids, _, _ = greedy_ours(model, torch.tensor([[3, 14, 15]]), 5, on_logits=lambda logits: seen.append(logits.argmax(-1)))
    assert torch.equal(torch.stack(seen, dim=1), ids)


def test_compiled_runner_compiles_once_and_matches_eager():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    model = tiny_model()
    prompt = torch.tensor([[3, 14, 15, 92, 65]])
    runner = OursRunner(model, prompt, new_tokens=6, compile_decode=True)
    runner.warm_up()
    compiled_after_warm_up = counters["stats"]["unique_graphs"]
    result = runner.run()
    expected, _, _ = greedy_ours(model, prompt, new_tokens=6)
    assert counters["stats"]["unique_graphs"] == compiled_after_warm_up
    assert result.generated_ids == expected[0].tolist()


def test_compiled_int8_decode_matches_eager():
    torch._dynamo.reset()
    model = tiny_model()
    quantize_linears_int8(model)
    prompt = torch.tensor([[3, 14, 15, 92, 65]])
    expected, _, _ = greedy_ours(model, prompt, new_tokens=6)
    runner = OursRunner(model, prompt, new_tokens=6, compile_decode=True)
    runner.warm_up()
    assert runner.run().generated_ids == expected[0].tolist()


def test_greedy_reused_cache_matches_fresh():
    model = tiny_model()
    cache = model.new_cache(1, 20)
    greedy_ours(model, torch.tensor([[7, 8, 9, 10, 11, 12, 13, 14]]), 10, cache=cache)  # fills 18 slots
    prompt = torch.tensor([[3, 14, 15]])
    expected, _, _ = greedy_ours(model, prompt, 6)
    got, _, _ = greedy_ours(model, prompt, 6, cache=cache)
    assert torch.equal(got, expected)


def test_greedy_reused_cache_matches_fresh_compiled():
    torch._dynamo.reset()
    model = tiny_model()
    step = torch.compile(static_decode_step(model), dynamic=False)
    cache = model.new_cache(1, 20)
    greedy_ours(model, torch.tensor([[7, 8, 9, 10, 11, 12, 13, 14]]), 10, step, cache=cache)
    prompt = torch.tensor([[3, 14, 15]])
    expected, _, _ = greedy_ours(model, prompt, 6)
    got, _, _ = greedy_ours(model, prompt, 6, step, cache=cache)
    assert torch.equal(got, expected)


def test_greedy_rejects_small_cache():
    model = tiny_model()
    with pytest.raises(ValueError, match="too small"):
        greedy_ours(model, torch.tensor([[3, 14, 15]]), 6, cache=model.new_cache(1, 8))
