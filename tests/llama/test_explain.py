"""llama explain: the traced forward pass, its attention weights and its pictures."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from llama3_core.config import ModelConfig
from llama3_core.explain import display_piece, layer_attention, top_next_tokens, trace_forward
from llama3_core.explain_plots import DPI, FIGURE_SIZES, render_trace, save_generation_attention
from llama3_core.hf_export import to_transformers
from llama3_core.model import Transformer

TOKENS = [5, 17, 3, 88, 42, 42, 7, 61, 19, 2, 30, 71]


@pytest.fixture(scope="module")
def model() -> Transformer:
    torch.manual_seed(0)
    config = ModelConfig(dim=64, n_layers=3, n_heads=4, n_kv_heads=2, vocab_size=97, hidden_dim=96, max_seq_len=64)
    return Transformer(config).eval()


@pytest.fixture(scope="module")
def trace(model):
    return trace_forward(model, TOKENS)


def test_trace_logits_equal_forward(model, trace):
    with torch.no_grad():
        expected = model(torch.tensor([TOKENS]))[0]
    assert torch.allclose(trace.logits, expected, atol=1e-5)


def test_trace_default_layer_is_last(trace):
    assert trace.layer == 2


def test_softmax_rows_sum_to_one(trace):
    for record in trace.attention:
        sums = record.weights.sum(dim=-1)
        assert torch.allclose(sums, torch.ones_like(sums), atol=1e-6)


def test_masked_upper_triangle_is_zero(trace):
    upper = torch.ones(len(TOKENS), len(TOKENS), dtype=torch.bool).triu(diagonal=1)
    for record in trace.attention:
        assert (record.weights[:, upper] == 0).all()
        assert torch.isinf(record.masked[:, upper]).all()


def test_weights_equal_transformers_attentions(model, trace):
    hf_model = to_transformers(model, attn_implementation="eager")
    with torch.no_grad():
        output = hf_model(torch.tensor([TOKENS]), output_attentions=True)
    for layer, record in enumerate(trace.attention):
        expected = output.attentions[layer][0]
        assert torch.allclose(record.weights, expected, atol=1e-5), layer


def test_layer_attention_equals_trace(model, trace):
    weights = layer_attention(model, TOKENS, layer=1)
    assert torch.allclose(weights, trace.attention[1].weights, atol=1e-6)


def test_logit_lens_last_row_is_argmax(trace):
    assert torch.equal(trace.lens_ids[-1], trace.logits.argmax(dim=-1))


def test_steps_cover_tutorial(trace):
    names = " ".join(step.name for step in trace.steps)
    for expected in ("embeddings", "RMSNorm", "rotary", "causal mask", "softmax", "SwiGLU", "final RMSNorm"):
        assert expected in names, expected


def test_top_next_tokens_sorted(trace):
    top = top_next_tokens(trace, lambda token_id: f"t{token_id}", k=5)
    probabilities = [entry["probability"] for entry in top]
    assert len(top) == 5
    assert probabilities == sorted(probabilities, reverse=True)
    assert top[0]["id"] == int(trace.logits[-1].argmax())


def test_layer_out_of_range_rejected(model):
    with pytest.raises(ValueError, match="layers 0..2"):
        trace_forward(model, TOKENS, layer=3)


@pytest.mark.parametrize(
    ("piece", "expected"),
    [(" Paris", "\u00b7Paris"), ("\n", "\\n"), ("", "\u2205"), ("abcdefghijklmnop", "abcdefghijk\u2026")],
)
def test_display_piece(piece, expected):
    assert display_piece(piece) == expected


def _assert_png(path, kind):
    image = np.asarray(Image.open(path).convert("RGB"))
    width, height = FIGURE_SIZES[kind]
    assert image.shape[:2] == (round(height * DPI), round(width * DPI)), path.name
    assert image.std() > 10, f"{path.name} is blank"
    packed = (image[..., 0].astype(np.uint32) << 16) | (image[..., 1].astype(np.uint32) << 8) | image[..., 2]
    assert len(np.unique(packed)) > 20, f"{path.name} has almost no colours"


@pytest.fixture(scope="module")
def pictures(trace, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("explain")
    pieces = [f" w{token_id}" for token_id in TOKENS]
    return render_trace(trace, pieces, lambda token_id: f"w{token_id}", out_dir, heads=[0, 3], prompt="a <b> prompt")


def test_pictures_in_page_order(pictures):
    kinds = [picture.kind for picture in pictures]
    assert kinds == ["rotary", "qk", "qk", "heads", "logit_lens"]


def test_pictures_load_with_expected_size(pictures):
    for picture in pictures:
        _assert_png(picture.path, picture.kind)


def test_index_lists_every_picture(pictures):
    page = (pictures[0].path.parent / "index.html").read_text()
    for picture in pictures:
        assert f'src="{picture.path.name}"' in page
    assert "&lt;b&gt;" in page


def test_generation_attention_png(model, tmp_path):
    path = save_generation_attention(model, TOKENS, 8, lambda token_id: f"t{token_id}", tmp_path / "attention.png")
    _assert_png(path, "generation_attention")


def test_trace_of_fused_model_equal(model, trace):
    fused = copy.deepcopy(model).fuse_projections()
    fused_trace = trace_forward(fused, TOKENS)
    assert torch.allclose(fused_trace.logits, trace.logits, atol=1e-5)
    assert torch.allclose(fused_trace.attention[2].weights, trace.attention[2].weights, atol=1e-6)


def test_cell_fontsize_shrinks_with_more_rows():
    from matplotlib.figure import Figure

    from llama3_core.explain_plots import _cell_fontsize

    figure = Figure(figsize=(16, 10))
    thirty_layers = _cell_fontsize(figure, rows=30, columns=20, longest_label=6)
    eighty_layers = _cell_fontsize(figure, rows=80, columns=20, longest_label=6)
    assert eighty_layers < thirty_layers
    assert _cell_fontsize(figure, rows=1000, columns=1000, longest_label=20) == 4.0
    assert _cell_fontsize(figure, rows=2, columns=2, longest_label=1) == 9.0
