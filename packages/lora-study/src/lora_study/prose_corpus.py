"""The source domain: English prose that the tiny base model is pretrained on.

The default is the Python documentation's topic pages, which ship inside every
CPython as ``pydoc_data.topics`` (about 465,000 characters), so the default
study runs offline and reads the same text on every machine with the same
Python. ``--source-corpus PATH`` replaces it with any UTF-8 text file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from mltk_core.errors import UserInputError

DEFAULT_SOURCE = "pydoc_data.topics"

# Every HELD_OUT_EVERY-th document is held out, so both splits span the corpus.
HELD_OUT_EVERY = 10


@dataclass(frozen=True)
class ProseCorpus:
    """A prose corpus split by document into training and held-out text."""

    name: str
    train_documents: tuple[str, ...]
    held_out_documents: tuple[str, ...]
    sha256: str

    @property
    def train_text(self) -> str:
        return "\n\n".join(self.train_documents)

    @property
    def held_out_text(self) -> str:
        return "\n\n".join(self.held_out_documents)


def load_prose_corpus(source: str | Path | None = None) -> ProseCorpus:
    """Load the source corpus: ``pydoc_data.topics`` by default, else a text file.

    The pydoc corpus has one document per topic page. A file is split into
    documents at blank lines, and consecutive paragraphs are joined into
    documents of at least 2,000 characters so that held-out text is not a
    scatter of headings.
    """
    if source is None or str(source) == DEFAULT_SOURCE:
        documents = _pydoc_topics()
        name = DEFAULT_SOURCE
    else:
        path = Path(source).expanduser()
        if not path.is_file():
            raise UserInputError(
                f"source corpus {str(source)!r} is not a file; pass a UTF-8 text file "
                "with --source-corpus, or leave it out to use pydoc_data.topics"
            )
        text = path.read_text(encoding="utf-8", errors="replace")
        documents = _paragraph_documents(text)
        name = str(path)
    if len(documents) < 2:
        raise UserInputError(
            f"source corpus {name!r} has {len(documents)} document(s); it needs at least "
            "2 paragraphs separated by blank lines, for training and held-out text"
        )
    return _split(name, documents)


def _pydoc_topics() -> list[str]:
    """Return the topic pages in key order. Several keys share one page, so
    duplicates are dropped; otherwise held-out text would also be trained on."""
    from pydoc_data.topics import topics

    pages = (topics[key].strip() for key in sorted(topics))
    return list(dict.fromkeys(page for page in pages if page))


def _paragraph_documents(text: str, min_chars: int = 2000) -> list[str]:
    paragraphs = [part.strip() for part in re.split(r"\n\s*\n", text) if part.strip()]
    documents: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in paragraphs:
        current.append(paragraph)
        size += len(paragraph)
        if size >= min_chars:
            documents.append("\n\n".join(current))
            current, size = [], 0
    if current:
        documents.append("\n\n".join(current))
    return documents


def _split(name: str, documents: list[str]) -> ProseCorpus:
    held_out = [doc for index, doc in enumerate(documents) if index % HELD_OUT_EVERY == 1]
    train = [doc for index, doc in enumerate(documents) if index % HELD_OUT_EVERY != 1]
    digest = hashlib.sha256("\x00".join(documents).encode("utf-8")).hexdigest()
    return ProseCorpus(name, tuple(train), tuple(held_out), digest)
