"""Calibration text from the user's own library: passages sampled from the
indexed documents, for the importance matrix and the pruning ranking, so a
smaller model is fitted to the user's domain rather than to the bundled
text.

Passages are split by document: a quarter of the documents (by a stable
hash of their path) are held out and never used for calibration, so the
loss can be measured on passages the calibration did not see.
"""

from __future__ import annotations

import hashlib
import os
import logging
import random
from dataclasses import dataclass

log = logging.getLogger(__name__)

LIBRARY = "library"              # the value of --calibration that asks for this
_ID_BATCH = 500                  # ids per chunk_rows query (well under SQLite's variable limit)
_MIN_CHARS = 2000                # less than this calibrates nothing useful


class CalibrationError(ValueError):
    """The library cannot give calibration text (empty, too small)."""


@dataclass(frozen=True)
class LibraryCalibration:
    calibration: str       # passages for the importance matrix / the ranking
    held_out: str          # passages from other documents, for measuring
    passages: int
    documents: int
    held_out_documents: int

    @property
    def note(self) -> str:
        return f"your library ({self.passages} passages from {self.documents} documents)"


def _held_out(path: str, fraction: float) -> bool:
    digest = hashlib.sha256(path.encode("utf-8", "surrogateescape")).digest()
    return digest[0] < 256 * fraction


def _all_passages(store) -> list:
    """Every passage (ChunkRow) in the store, through its public reads: ids
    are the table's autoincrement keys, so they are walked in batches until
    as many rows as the store counts have been seen."""
    total = int(store.totals().get("chunks") or 0)
    rows, start, empty_batches = [], 1, 0
    while len(rows) < total and empty_batches < 50:   # 50 empty batches: a long run of deleted ids
        batch = store.chunk_rows(list(range(start, start + _ID_BATCH)))
        empty_batches = 0 if batch else empty_batches + 1
        rows.extend(batch[i] for i in sorted(batch))
        start += _ID_BATCH
    return rows


def library_calibration(library, *, max_chars: int = 60_000, held_out_fraction: float = 0.25,
                        seed: int = 0) -> LibraryCalibration:
    """Sample passages of ``library`` (a Library) into calibration text of
    about ``max_chars`` characters (the imatrix reads at most 32 windows of
    512 tokens, about 60k characters of English) and held-out text from the
    other documents. Raises CalibrationError when there is too little."""
    rows = [r for r in _all_passages(library.store) if r.text and r.text.strip()]
    if not rows:
        raise CalibrationError("your library has no indexed passages yet; add documents first, "
                               "or calibrate on the bundled text")
    paths = sorted({r.path for r in rows})
    # Which documents are held out depends on where they stand in the
    # library, not on where the library's folders are on this disk.
    try:
        base = os.path.commonpath(paths) if len(paths) > 1 else ""
    except ValueError:           # paths on different drives
        base = ""
    held = {p for p in paths if _held_out(os.path.relpath(p, base) if base else p, held_out_fraction)} \
        if len(paths) > 1 else set()
    if held == set(paths):       # every document hashed out: keep one for calibration
        held.discard(paths[0])
    rng = random.Random(seed)
    train = [r for r in rows if r.path not in held]
    test = [r for r in rows if r.path in held]
    rng.shuffle(train)
    rng.shuffle(test)

    def take(pool) -> tuple[str, int, int]:
        parts, size, docs = [], 0, set()
        for r in pool:
            if size >= max_chars:
                break
            parts.append(r.text.strip())
            size += len(parts[-1]) + 2
            docs.add(r.path)
        return "\n\n".join(parts), len(parts), len(docs)

    calibration, n, docs = take(train)
    held_text, _, held_docs = take(test)
    if len(calibration) < _MIN_CHARS:
        raise CalibrationError(f"your library has only {len(calibration):,} characters of text to calibrate on; "
                               f"at least {_MIN_CHARS:,} are needed")
    log.info("library calibration: %d passages from %d documents; %d documents held out", n, docs, held_docs)
    return LibraryCalibration(calibration, held_text, n, docs, held_docs)


__all__ = ["LIBRARY", "CalibrationError", "LibraryCalibration", "library_calibration"]
