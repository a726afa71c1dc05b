"""The code target domain: Python source from the standard library, split by file.

Files are read from the running interpreter's ``stdlib`` folder (top level
only, sorted by name), so the corpus depends on the Python version; its hash
goes into every result. Every HELD_OUT_EVERY-th file is held out, so no held-out
function shares a file with a training one.
"""

from __future__ import annotations

import ast
import hashlib
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

HELD_OUT_EVERY = 10


@dataclass(frozen=True)
class CodeFunction:
    """A function split into its signature with docstring (prompt) and its body (response)."""

    prompt: str
    response: str


@dataclass(frozen=True)
class CodeCorpus:
    train_files: tuple[str, ...]
    held_out_files: tuple[str, ...]
    sha256: str


def stdlib_files(root: Path | None = None) -> list[Path]:
    root = root or Path(sysconfig.get_paths()["stdlib"])
    return sorted(path for path in root.glob("*.py") if path.is_file())


def load_code_corpus(max_chars: int, root: Path | None = None) -> CodeCorpus:
    """Read standard-library files in name order until ``max_chars`` characters are read."""
    texts: list[str] = []
    total = 0
    for path in stdlib_files(root):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        total += len(text)
        if total >= max_chars:
            break
    if len(texts) < 2:
        raise ValueError(f"found {len(texts)} standard-library file(s); need at least 2")
    held_out = [text for index, text in enumerate(texts) if index % HELD_OUT_EVERY == 1]
    train = [text for index, text in enumerate(texts) if index % HELD_OUT_EVERY != 1]
    digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()
    return CodeCorpus(tuple(train), tuple(held_out), digest)


def documented_functions(source: str) -> list[CodeFunction]:
    """Split every function with a docstring into prompt and body, dedented to column 0.

    Functions whose body is only the docstring are skipped. A file that does
    not parse returns no functions.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    lines = source.splitlines()
    functions: list[CodeFunction] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if ast.get_docstring(node) is None or len(node.body) < 2:
            continue
        start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
        docstring_end = node.body[0].end_lineno
        end = node.end_lineno
        whole = textwrap.dedent("\n".join(lines[start:end]))
        split_at = docstring_end - start
        whole_lines = whole.split("\n")
        prompt = "\n".join(whole_lines[:split_at]) + "\n"
        response = "\n".join(whole_lines[split_at:]) + "\n"
        functions.append(CodeFunction(prompt, response))
    return functions
