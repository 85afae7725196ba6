"""Crafting broken model files from the real default model with the ``gguf``
package, for the tests of what Hearth does with them."""

from __future__ import annotations

import shutil
from pathlib import Path


def copy_with_field(src: Path, dst: Path, key: str, value: int) -> Path:
    """A copy of GGUF ``src`` whose integer metadata ``key`` says ``value``
    (changed in place with gguf's reader opened read-write)."""
    import gguf

    shutil.copyfile(src, dst)
    reader = gguf.GGUFReader(dst, "r+")
    field = reader.fields[key]
    field.parts[field.data[0]][0] = value
    reader.data.flush()
    del reader
    return dst


def copy_with_token(src: Path, dst: Path, index: int, text: str) -> Path:
    """A copy of ``src`` whose vocabulary entry ``index`` reads ``text``
    (same byte length, so the layout is unchanged). Giving it the text of
    another token makes a vocabulary with a duplicate, on which llama.cpp
    aborts the process (GGML_ASSERT(id_to_token.size() == token_to_id.size()))
    while every header check passes."""
    import gguf

    shutil.copyfile(src, dst)
    reader = gguf.GGUFReader(dst, "r+")
    field = reader.fields["tokenizer.ggml.tokens"]
    part = field.parts[field.data[index]]
    assert len(part) == len(text.encode()), "same length keeps the layout"
    part[:] = list(text.encode())
    reader.data.flush()
    del reader
    return dst
