"""Parsing of the comma-separated and path flags of ``ml-toolkit lora compare``."""

from __future__ import annotations

from pathlib import Path

from mltk_core.data_dir import find_data_file
from mltk_core.errors import UserInputError


def parse_names(text: str | None, flag: str) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise UserInputError(f"invalid {flag} {text!r}: expected a comma-separated list")
    return names


def parse_ints(text: str | None, flag: str) -> tuple[int, ...] | None:
    names = parse_names(text, flag)
    if names is None:
        return None
    try:
        return tuple(int(name) for name in names)
    except ValueError:
        raise UserInputError(
            f"invalid {flag} {text!r}: expected comma-separated integers"
        ) from None


def parse_floats(text: str | None, flag: str) -> tuple[float, ...] | None:
    names = parse_names(text, flag)
    if names is None:
        return None
    try:
        return tuple(float(name) for name in names)
    except ValueError:
        raise UserInputError(f"invalid {flag} {text!r}: expected comma-separated numbers") from None


def resolve_source_corpus(source: str | None, data_dir: str | None) -> str | None:
    """Return the corpus path as an absolute path.

    A relative path that does not exist here is looked up in the data
    directory, as given and under ``corpora/``.
    """
    if source is None or source == "pydoc_data.topics":
        return source
    path = Path(source).expanduser()
    if path.is_file():
        return str(path.resolve())
    if not path.is_absolute():
        for relative in (source, f"corpora/{source}"):
            found = find_data_file(relative, data_dir)
            if found is not None:
                return str(found.resolve())
    raise UserInputError(
        f"source corpus {source!r} not found, neither as a path nor in the data directory "
        "(--data-dir or MLTK_DATA_DIR); pass an existing UTF-8 text file"
    )
