import pytest
import torch
from lora_study.token_rows import batch_indices, pack_documents, pair_rows
from lora_study.tokenizer import TextTokenizer, train_tokenizer

TEXTS = ["The quick brown fox jumps over the lazy dog. " * 20, "Numbers like 1234 and 56. " * 20]


@pytest.fixture(scope="module")
def tokenizer() -> TextTokenizer:
    return train_tokenizer(TEXTS, 300)


def test_tokenizer_round_trips_unseen_text(tokenizer):
    text = "Ünïcode, tabs\tand code:\n    return x ** 2"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_tokenizer_splits_digits(tokenizer):
    ids = tokenizer.encode("1234")
    assert len(ids) == 4


def test_tokenizer_saves_and_loads(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tokenizer.json")
    loaded = TextTokenizer.load(tmp_path / "tokenizer.json")
    assert loaded.encode("lazy dog 42") == tokenizer.encode("lazy dog 42")
    assert (loaded.bos_id, loaded.eos_id, loaded.pad_id) == (0, 1, 2)


def test_tokenizer_rejects_large_vocab():
    with pytest.raises(ValueError, match="vocabulary size 5000"):
        train_tokenizer(TEXTS, 5000)


def test_pair_rows_mask_covers_response_only(tokenizer):
    rows = pair_rows(tokenizer, [("Question: 2 + 3?", " 5.")], seq_len=32)
    prompt_length = 1 + len(tokenizer.encode("Question: 2 + 3?"))
    response = [*tokenizer.encode(" 5."), tokenizer.eos_id]
    targets = rows.tokens[0, 1:]
    assert targets[rows.loss_mask[0]].tolist() == response
    assert not rows.loss_mask[0, : prompt_length - 1].any()
    assert rows.tokens[0, -1].item() == tokenizer.pad_id


def test_pair_rows_skip_long_prompts(tokenizer):
    rows = pair_rows(tokenizer, [("word " * 100, " x"), ("short", " y")], seq_len=32)
    assert len(rows) == 1


def test_pack_documents_fills_full_rows(tokenizer):
    rows = pack_documents(tokenizer, TEXTS, seq_len=16)
    assert rows.tokens.shape[1] == 17
    assert bool(rows.loss_mask.all())
    assert rows.tokens[0, 0].item() == tokenizer.bos_id


def test_batch_indices_cover_an_epoch():
    seen = torch.cat([batch_indices(10, 5, step, seed=0) for step in range(2)])
    assert sorted(seen.tolist()) == list(range(10))


def test_batch_indices_repeat_for_same_seed():
    assert torch.equal(batch_indices(50, 8, 7, seed=1), batch_indices(50, 8, 7, seed=1))
