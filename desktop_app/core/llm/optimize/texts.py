"""The text a model is measured on (evaluation) or calibrated on (pruning):
given as a file, as the text itself, or left to the bundled default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

TextInput = Union[str, os.PathLike, None]


def read_text_input(text: TextInput, *, default: Path, what: str,
                    error: type[Exception]) -> tuple[str, str]:
    """(name, content): ``default``'s content for None, a file's content for a
    path, the string itself (named "text") for a str. An unreadable file
    raises ``error`` naming ``what`` it was meant to be."""
    if text is None:
        return default.name, default.read_text(encoding="utf-8")
    if isinstance(text, os.PathLike):
        path = Path(text)
        try:
            return path.name, path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    return "text", str(text)


__all__ = ["TextInput", "read_text_input"]
