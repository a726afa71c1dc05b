"""Target-domain data for each domain and regime, and the source held-out rows.

Regimes:
- ``instruction``: prompt/response pairs, loss on the responses only;
- ``continued``: continued pretraining on raw text, loss on every token.
"""

from __future__ import annotations

from dataclasses import dataclass

from lora_study.code_corpus import documented_functions, load_code_corpus
from lora_study.math_problems import MathProblem, split_problems
from lora_study.prose_corpus import ProseCorpus
from lora_study.token_rows import TokenRows, pack_documents, pair_rows
from lora_study.tokenizer import TextTokenizer

DOMAINS = ("math", "code")
REGIMES = ("instruction", "continued")


@dataclass(frozen=True)
class TargetData:
    """Training and held-out rows of the target domain, with the problems scored by exact match."""

    domain: str
    regime: str
    train: TokenRows
    held_out: TokenRows
    held_out_problems: tuple[MathProblem, ...]
    corpus_sha256: str


def build_target_data(
    domain: str,
    regime: str,
    tokenizer: TextTokenizer,
    seq_len: int,
    seed: int,
    math_train_problems: int = 4000,
    math_held_out_problems: int = 200,
    code_chars: int = 400_000,
) -> TargetData:
    if domain == "math":
        return _math_data(
            regime, tokenizer, seq_len, seed, math_train_problems, math_held_out_problems
        )
    if domain == "code":
        return _code_data(regime, tokenizer, seq_len, code_chars)
    raise ValueError(f"invalid domain {domain!r}: expected one of {', '.join(DOMAINS)}")


def source_held_out_rows(
    tokenizer: TextTokenizer, corpus: ProseCorpus, seq_len: int, max_rows: int
) -> TokenRows:
    return pack_documents(tokenizer, corpus.held_out_documents, seq_len).head(max_rows)


def _math_data(
    regime: str,
    tokenizer: TextTokenizer,
    seq_len: int,
    seed: int,
    train_count: int,
    held_out_count: int,
) -> TargetData:
    train, held_out = split_problems(train_count, held_out_count, seed)
    if regime == "instruction":
        train_rows = pair_rows(tokenizer, [(p.prompt, p.response) for p in train], seq_len)
        held_out_rows = pair_rows(tokenizer, [(p.prompt, p.response) for p in held_out], seq_len)
    else:
        train_rows = pack_documents(tokenizer, [p.prompt + p.response for p in train], seq_len)
        held_out_rows = pack_documents(
            tokenizer, [p.prompt + p.response for p in held_out], seq_len
        )
    digest = f"math:{seed}:{train_count}:{held_out_count}"
    return TargetData("math", regime, train_rows, held_out_rows, tuple(held_out), digest)


def _code_data(regime: str, tokenizer: TextTokenizer, seq_len: int, code_chars: int) -> TargetData:
    corpus = load_code_corpus(code_chars)
    if regime == "instruction":
        train_pairs = [
            (f.prompt, f.response)
            for text in corpus.train_files
            for f in documented_functions(text)
        ]
        held_pairs = [
            (f.prompt, f.response)
            for text in corpus.held_out_files
            for f in documented_functions(text)
        ]
        train_rows = pair_rows(tokenizer, train_pairs, seq_len)
        held_out_rows = pair_rows(tokenizer, held_pairs, seq_len)
    else:
        train_rows = pack_documents(tokenizer, corpus.train_files, seq_len)
        held_out_rows = pack_documents(tokenizer, corpus.held_out_files, seq_len)
    return TargetData("code", regime, train_rows, held_out_rows, (), corpus.sha256)
