"""Byte-level BPE tokenizers on tiktoken: Meta's ``tokenizer.model`` and converted vocabularies.

A ``Tokenizer`` encodes user text as ordinary text only: a prompt that spells
``<|eot_id|>`` yields the tokens of those characters, never the control token.
Control tokens enter a sequence only through ``special_id`` (used by the chat
formats) or ``encode_with_specials`` (for text rendered from a chat template).

Model ids and tiktoken ranks may differ. tiktoken merges by rank, which for a
Hugging Face or GGUF vocabulary is the merge order, while the model reads vocabulary
ids, so ``rank_to_id`` maps one to the other (``None`` when they coincide).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tiktoken
from mltk_core.errors import UserInputError

# Meta's Llama 3 pre-tokenizer pattern (meta-llama/llama3, tokenizer.py).
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# GPT-2's pattern, used by byte-level BPE vocabularies without a pattern of their own.
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
# SmolLM2 (GGUF pre-tokenizer "smollm", tokenizer.json Digits + ByteLevel): GPT-2's
# pattern with every digit on its own. Hugging Face splits digits off before the
# byte-level regex runs, so a whitespace run before a digit ends its own segment
# and stays whole ("  4" is "  ", "4"); the \s+(?=\p{N}) branch reproduces that.
SMOLLM_PATTERN = (
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?=\p{N})|\s+(?!\S)|\s+"
)

LLAMA3_BPE_RANKS = 128000
LLAMA3_SPECIAL_COUNT = 256

# tiktoken's BPE is quadratic in the length of one pre-tokenized piece, so long
# runs of whitespace or of non-whitespace are cut into pieces of at most this many
# characters first (Meta's reference tokenizer uses the same limit).
MAX_RUN_CHARS = 25_000


class Tokenizer:
    """A byte-level BPE tokenizer with control tokens and stop tokens.

    Parameters
    ----------
    name:
        Label for messages, such as the file the vocabulary came from.
    pattern:
        Pre-tokenizer regular expression (fancy-regex syntax, as tiktoken uses).
    mergeable_ranks:
        Byte sequence to tiktoken rank, for every token that BPE may produce.
    special_tokens:
        Control token text to model id.
    id_bytes:
        Bytes of every model id, for decoding; ``None`` means rank == id.
    rank_to_id:
        Model id of each rank (an int array), or ``None`` when they coincide.
    bos_id, eos_id:
        Begin- and end-of-sequence ids, or ``None``.
    stop_ids:
        Ids that end generation.
    add_bos:
        Whether a plain (non-chat) prompt starts with ``bos_id``.
    unknown_byte_ranks:
        Rank of each single byte that the vocabulary lacks. Encoding drops these
        bytes (see ``encode``).
    """

    def __init__(
        self,
        name: str,
        pattern: str,
        mergeable_ranks: dict[bytes, int],
        special_tokens: dict[str, int],
        *,
        id_bytes: list[bytes] | None = None,
        rank_to_id: np.ndarray | None = None,
        bos_id: int | None = None,
        eos_id: int | None = None,
        stop_ids: Sequence[int] = (),
        add_bos: bool = False,
        unknown_byte_ranks: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.special_tokens = dict(special_tokens)
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.stop_ids = sorted(set(stop_ids))
        self.add_bos = add_bos
        self._rank_to_id = rank_to_id
        self._unknown_byte_ranks = np.asarray(sorted(unknown_byte_ranks), dtype=np.int64)

        # tiktoken requires special ranks outside the mergeable ranks. When ranks
        # and ids differ, control tokens take the ranks after the last mergeable one.
        next_rank = max(mergeable_ranks.values()) + 1
        special_rank = dict(self.special_tokens)
        if rank_to_id is not None:
            special_rank = {text: next_rank + i for i, text in enumerate(self.special_tokens)}
            extra = np.full(next_rank - len(rank_to_id), -1, dtype=np.int64)
            special_ids = np.asarray(list(self.special_tokens.values()), dtype=np.int64)
            self._rank_to_id = np.concatenate([rank_to_id.astype(np.int64), extra, special_ids])
        self._encoding = tiktoken.Encoding(
            name=f"llama3_core:{name}",
            pat_str=pattern,
            mergeable_ranks=mergeable_ranks,
            special_tokens=special_rank,
        )
        self._id_bytes = id_bytes
        self._special_text_by_id = {
            token_id: text for text, token_id in self.special_tokens.items()
        }
        if id_bytes is not None:
            self.vocab_size = len(id_bytes)
        else:
            self.vocab_size = max([next_rank, *(i + 1 for i in self.special_tokens.values())])

    # ------------------------------------------------------------------ encoding

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        """Encode ``text`` as ordinary text; spelled-out control tokens stay text.

        Bytes the vocabulary lacks (SmolLM2 lacks 21 single bytes, such as 0x04)
        are dropped, as Hugging Face ``tokenizers`` does for a byte-level BPE
        without an unknown token, rather than mapped to a control token.
        """
        ids: list[int] = []
        if bos:
            ids.append(self._require(self.bos_id, "begin-of-sequence"))
        for chunk in _split_long_runs(text):
            ids.extend(self._ranks_to_ids(self._encoding.encode_ordinary(chunk)))
        if eos:
            ids.append(self._require(self.eos_id, "end-of-sequence"))
        return ids

    def encode_with_specials(self, text: str) -> list[int]:
        """Encode text in which control-token spellings are control tokens (template output)."""
        ranks: list[int] = []
        for chunk in _split_long_runs(text):
            ranks.extend(self._encoding.encode(chunk, allowed_special="all", disallowed_special=()))
        return self._ranks_to_ids(ranks)

    def special_id(self, text: str) -> int:
        try:
            return self.special_tokens[text]
        except KeyError:
            raise KeyError(f"{text!r} is not a control token of tokenizer {self.name}") from None

    def _ranks_to_ids(self, ranks: list[int]) -> list[int]:
        if not ranks:
            return []
        array = np.asarray(ranks, dtype=np.int64)
        if len(self._unknown_byte_ranks):
            array = array[~np.isin(array, self._unknown_byte_ranks)]
        if self._rank_to_id is not None:
            array = self._rank_to_id[array]
        return array.tolist()

    @staticmethod
    def _require(token_id: int | None, what: str) -> int:
        if token_id is None:
            raise UserInputError(f"this tokenizer has no {what} token")
        return token_id

    # ------------------------------------------------------------------ decoding

    def token_bytes(self, token_id: int) -> bytes:
        """Return the bytes of one id; a control token gives its text."""
        special = self._special_text_by_id.get(token_id)
        if special is not None:
            return special.encode()
        if self._id_bytes is not None:
            return self._id_bytes[token_id]
        return self._encoding.decode_single_token_bytes(token_id)

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        if self._id_bytes is None and not self._special_text_by_id:
            return self._encoding.decode_bytes(list(ids))
        return b"".join(self.token_bytes(int(i)) for i in ids)

    def decode(self, ids: Sequence[int]) -> str:
        """Decode ids to text; invalid UTF-8 (a character cut between tokens) becomes U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def piece(self, token_id: int) -> str:
        """Return one token's text, with U+FFFD for a partial UTF-8 character."""
        return self.token_bytes(token_id).decode("utf-8", errors="replace")


def _split_long_runs(text: str) -> Iterator[str]:
    """Yield ``text`` in chunks so no run of whitespace or non-whitespace exceeds MAX_RUN_CHARS.

    A cut falls only inside an over-long run, so shorter pieces tokenize exactly
    as without the split.
    """
    if len(text) <= MAX_RUN_CHARS:
        yield text
        return
    start = 0
    run_start = 0
    run_is_space = text[0].isspace()
    for index, char in enumerate(text):
        is_space = char.isspace()
        if is_space != run_is_space:
            run_start = index
            run_is_space = is_space
        elif index - run_start >= MAX_RUN_CHARS:
            yield text[start:index]
            start = index
            run_start = index
    yield text[start:]


# ---------------------------------------------------------------- Meta's tokenizer.model


def llama3_special_tokens(version: str = "3.1") -> list[str]:
    """Name the 256 control tokens from id 128000, as Llama 3 ("3") or 3.1 and later ("3.1") do.

    Llama 3.1 and later give reserved tokens 128004, 128005, 128008 and 128010
    the names ``<|finetune_right_pad_id|>``, ``<|step_id|>``, ``<|eom_id|>`` and
    ``<|python_tag|>``, and number the remaining reserved tokens from 2. The
    "3.1" names equal those of Llama 3.2's Hugging Face ``tokenizer.json``.
    """
    if version == "3":
        named = [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>",
            "<|reserved_special_token_2|>",
            "<|reserved_special_token_3|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|reserved_special_token_4|>",
            "<|eot_id|>",
        ]
        first_reserved = 5
    elif version == "3.1":
        named = [
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|reserved_special_token_0|>",
            "<|reserved_special_token_1|>",
            "<|finetune_right_pad_id|>",
            "<|step_id|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eom_id|>",
            "<|eot_id|>",
            "<|python_tag|>",
        ]
        first_reserved = 2
    else:
        raise ValueError(f"unknown Llama 3 tokenizer version {version!r}: expected '3' or '3.1'")
    reserved = [
        f"<|reserved_special_token_{first_reserved + i}|>"
        for i in range(LLAMA3_SPECIAL_COUNT - len(named))
    ]
    return named + reserved


def load_meta_tokenizer(path: str | Path, version: str = "3.1") -> Tokenizer:
    """Load Meta's ``tokenizer.model`` (a base64 token and its rank per line) and control tokens."""
    path = Path(path)
    ranks = _read_tiktoken_ranks(path)
    if len(ranks) != LLAMA3_BPE_RANKS:
        raise UserInputError(
            f"invalid Llama 3 tokenizer {path}: expected {LLAMA3_BPE_RANKS} ranks, found "
            f"{len(ranks)}"
        )
    names = llama3_special_tokens(version)
    special = {text: LLAMA3_BPE_RANKS + i for i, text in enumerate(names)}
    stops = [special["<|end_of_text|>"], special["<|eot_id|>"]]
    if "<|eom_id|>" in special:
        stops.append(special["<|eom_id|>"])
    return Tokenizer(
        name=str(path),
        pattern=LLAMA3_PATTERN,
        mergeable_ranks=ranks,
        special_tokens=special,
        bos_id=special["<|begin_of_text|>"],
        eos_id=special["<|end_of_text|>"],
        stop_ids=stops,
        add_bos=True,
    )


def _read_tiktoken_ranks(path: Path) -> dict[bytes, int]:
    import base64
    import binascii

    try:
        lines = path.read_bytes().splitlines()
    except OSError as error:
        raise UserInputError(f"cannot read tokenizer file {path}: {error.strerror}") from None
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except (ValueError, binascii.Error):
            raise UserInputError(
                f"invalid tokenizer file {path}: line {number} is not 'base64-token rank'"
            ) from None
    return ranks
