"""Byte-level BPE vocabularies (GPT-2 style) converted to tiktoken: Hugging Face and GGUF.

Both formats store each token as text in GPT-2's byte-to-character alphabet
(every byte maps to one printable character, so a space is "Ġ") plus an ordered
list of merges. tiktoken instead wants the raw bytes of each token and a rank
that orders merges. Here a token's rank is the position of the merge that first
creates it, after the 256 single bytes, so tiktoken merges in the vocabulary's
merge order.

Some vocabularies lack single bytes (SmolLM2 lacks 21 of them, such as 0x04).
tiktoken panics on a byte without a rank, so each missing byte gets a rank after
all others and the tokenizer drops it when encoding (see ``Tokenizer.encode``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from mltk_core.errors import UserInputError

from llama3_core.tokenizer import GPT2_PATTERN, LLAMA3_PATTERN, SMOLLM_PATTERN, Tokenizer

# GGUF tokenizer.ggml.token_type values that mark control and user-defined tokens.
GGUF_CONTROL_TYPES = {3, 4}

# GGUF tokenizer.ggml.pre names with a known pattern (llama.cpp's names).
GGUF_PRE_TOKENIZERS = {
    "smollm": SMOLLM_PATTERN,
    "llama-bpe": LLAMA3_PATTERN,
    "llama3": LLAMA3_PATTERN,
    "gpt-2": GPT2_PATTERN,
    "gpt2": GPT2_PATTERN,
    "default": GPT2_PATTERN,
}


def byte_to_char() -> dict[int, str]:
    """Map every byte to GPT-2's printable stand-in character.

    Printable Latin-1 bytes stand for themselves; the other 68 bytes take the
    characters from U+0100 upward, in byte order.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {byte: chr(byte) for byte in printable}
    next_code = 256
    for byte in range(256):
        if byte not in mapping:
            mapping[byte] = chr(next_code)
            next_code += 1
    return mapping


_BYTE_TO_CHAR = byte_to_char()


def build_byte_level_tokenizer(
    name: str,
    tokens: Sequence[str],
    merges: Sequence[tuple[str, str]],
    special_ids: Sequence[int],
    pattern: str,
    *,
    bos_id: int | None,
    eos_id: int | None,
    stop_ids: Sequence[int],
    add_bos: bool,
) -> Tokenizer:
    """Convert a GPT-2-style vocabulary (``tokens[id]``) and merge list into a ``Tokenizer``."""
    char_to_byte = {char: byte for byte, char in byte_to_char().items()}
    specials = set(special_ids)

    def to_bytes(token: str) -> bytes:
        try:
            return bytes(char_to_byte[char] for char in token)
        except KeyError:
            return token.encode()  # an added token written as plain text

    id_bytes = [
        token.encode() if i in specials else to_bytes(token) for i, token in enumerate(tokens)
    ]
    id_of = {token: i for i, token in enumerate(tokens) if i not in specials}

    ranks: dict[bytes, int] = {}
    rank_to_id: list[int] = []
    unknown_byte_ranks: list[int] = []
    for byte in range(256):
        char = _BYTE_TO_CHAR[byte]
        token_id = id_of.get(char)
        ranks[bytes([byte])] = len(rank_to_id)
        if token_id is None:
            unknown_byte_ranks.append(len(rank_to_id))
        rank_to_id.append(-1 if token_id is None else token_id)

    for left, right in merges:
        merged = left + right
        token_id = id_of.get(merged)
        if token_id is None:
            continue
        merged_bytes = id_bytes[token_id]
        if merged_bytes not in ranks:
            ranks[merged_bytes] = len(rank_to_id)
            rank_to_id.append(token_id)

    special_tokens = {tokens[i]: i for i in sorted(specials)}
    return Tokenizer(
        name=name,
        pattern=pattern,
        mergeable_ranks=ranks,
        special_tokens=special_tokens,
        id_bytes=id_bytes,
        rank_to_id=np.asarray(rank_to_id, dtype=np.int64),
        bos_id=bos_id,
        eos_id=eos_id,
        stop_ids=stop_ids,
        add_bos=add_bos,
        unknown_byte_ranks=unknown_byte_ranks,
    )


# ---------------------------------------------------------------- GGUF metadata


def tokenizer_from_gguf(metadata: Mapping[str, Any], name: str) -> Tokenizer:
    """Build the tokenizer that a GGUF file describes in its ``tokenizer.ggml.*`` metadata."""
    kind = metadata.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise UserInputError(
            f"unsupported GGUF tokenizer {kind!r} in {name}: only byte-level BPE ('gpt2') is "
            "supported"
        )
    pre = metadata.get("tokenizer.ggml.pre", "default")
    if pre not in GGUF_PRE_TOKENIZERS:
        raise UserInputError(
            f"unsupported GGUF pre-tokenizer {pre!r} in {name}: "
            f"supported are {', '.join(sorted(GGUF_PRE_TOKENIZERS))}"
        )

    tokens = list(metadata["tokenizer.ggml.tokens"])
    merges = [tuple(merge.split(" ", 1)) for merge in metadata["tokenizer.ggml.merges"]]
    token_types = metadata.get("tokenizer.ggml.token_type") or [1] * len(tokens)
    special_ids = [i for i, kind in enumerate(token_types) if int(kind) in GGUF_CONTROL_TYPES]

    def optional_id(key: str) -> int | None:
        value = metadata.get(f"tokenizer.ggml.{key}")
        return None if value is None else int(value)

    bos_id = optional_id("bos_token_id")
    eos_id = optional_id("eos_token_id")
    stops = [
        i
        for i in (eos_id, optional_id("eot_token_id"), optional_id("eom_token_id"))
        if i is not None
    ]
    stops.extend(_template_stop_ids(metadata.get("tokenizer.chat_template"), tokens, special_ids))
    return build_byte_level_tokenizer(
        name,
        tokens,
        merges,
        special_ids,
        GGUF_PRE_TOKENIZERS[pre],
        bos_id=bos_id,
        eos_id=eos_id,
        stop_ids=stops,
        add_bos=bool(metadata.get("tokenizer.ggml.add_bos_token", False)),
    )


def _template_stop_ids(
    template: str | None, tokens: Sequence[str], special_ids: Sequence[int]
) -> list[int]:
    """Return the end-of-turn tokens that a chat template writes after each message."""
    if not template:
        return []
    ids = []
    for i in special_ids:
        if (
            tokens[i] in ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>")
            and tokens[i] in template
        ):
            ids.append(i)
    return ids


# ---------------------------------------------------------------- Hugging Face tokenizer.json


def tokenizer_from_hf(folder: Path, eos_ids: Sequence[int] = ()) -> Tokenizer:
    """Build the tokenizer of a Hugging Face model folder from its ``tokenizer.json``.

    ``eos_ids`` are the model's end-of-sequence ids from ``config.json`` and
    ``generation_config.json``, which become stop tokens.
    """
    path = folder / "tokenizer.json"
    spec = _read_json(path)
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise UserInputError(
            f"unsupported tokenizer in {path}: model type {model.get('type')!r}, expected BPE"
        )
    if spec.get("normalizer"):
        raise UserInputError(
            f"unsupported tokenizer in {path}: it has a normalizer, which byte-level BPE here "
            "does not apply"
        )
    pattern = _hf_pattern(spec.get("pre_tokenizer"), path)

    vocab: dict[str, int] = dict(model["vocab"])
    for added in spec.get("added_tokens") or []:
        vocab[added["content"]] = int(added["id"])
    tokens = [""] * (max(vocab.values()) + 1)
    for token, token_id in vocab.items():
        tokens[token_id] = token
    merges = [
        tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m)
        for m in model.get("merges") or []
    ]
    special_ids = [int(added["id"]) for added in spec.get("added_tokens") or []]

    bos_id = _hf_bos_id(spec.get("post_processor"), vocab)
    config = (
        _read_json(folder / "tokenizer_config.json")
        if (folder / "tokenizer_config.json").is_file()
        else {}
    )
    eos_text = config.get("eos_token")
    if isinstance(eos_text, dict):
        eos_text = eos_text.get("content")
    eos_id = None
    if eos_text:
        eos_id = vocab.get(eos_text)
    elif eos_ids:
        eos_id = eos_ids[0]
    stops = [*eos_ids, *([eos_id] if eos_id is not None else [])]
    stops.extend(_template_stop_ids(config.get("chat_template"), tokens, special_ids))
    return build_byte_level_tokenizer(
        str(path),
        tokens,
        merges,
        special_ids,
        pattern,
        bos_id=bos_id if bos_id is not None else vocab.get(_token_text(config.get("bos_token"))),
        eos_id=eos_id,
        stop_ids=stops,
        add_bos=bos_id is not None,
    )


def _token_text(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value


def _hf_pattern(pre_tokenizer: Mapping[str, Any] | None, path: Path) -> str:
    """Translate the pre-tokenizer of a tokenizer.json into one tiktoken pattern."""
    steps = []
    if pre_tokenizer:
        steps = (
            pre_tokenizer.get("pretokenizers")
            if pre_tokenizer["type"] == "Sequence"
            else [pre_tokenizer]
        )
    kinds = [step["type"] for step in steps]

    if kinds == ["ByteLevel"] and steps[0].get("use_regex", True):
        return GPT2_PATTERN
    if (
        kinds == ["Digits", "ByteLevel"]
        and steps[0].get("individual_digits")
        and steps[1].get("use_regex", True)
    ):
        return SMOLLM_PATTERN
    if kinds == ["Split", "ByteLevel"] and not steps[1].get("use_regex", True):
        regex = (steps[0].get("pattern") or {}).get("Regex")
        if regex and steps[0].get("behavior") == "Isolated" and not steps[0].get("invert"):
            return regex
    raise UserInputError(
        f"unsupported pre-tokenizer in {path}: {' + '.join(kinds) or 'none'}; supported are "
        "ByteLevel, Digits + ByteLevel, and Split(regex) + ByteLevel"
    )


def _hf_bos_id(post_processor: Mapping[str, Any] | None, vocab: Mapping[str, int]) -> int | None:
    """Return the BOS id that the post-processor puts before a single sequence, if any."""
    if not post_processor:
        return None
    processors = (
        post_processor.get("processors")
        if post_processor["type"] == "Sequence"
        else [post_processor]
    )
    for processor in processors:
        if processor.get("type") != "TemplateProcessing":
            continue
        single = processor.get("single") or []
        if single and "SpecialToken" in single[0]:
            return vocab.get(single[0]["SpecialToken"]["id"])
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserInputError(f"missing file {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UserInputError(f"invalid JSON file {path}: {error}") from None
