"""How Hearth-made variants descend from each other.

Lineage lives next to each variant in a sidecar ``<model>.gguf.hearth.json``
(``parent``, ``method``, ``settings``, ``created``, and an ``evaluation``
section written by the evaluator). A model whose sidecar records how Hearth
made it (a ``method`` and a ``parent``) is "Hearth-made"; only those may be
deleted from disk through the catalog. Any model can have a sidecar holding
only an ``evaluation``: that does not make it Hearth-made.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".hearth.json"


def sidecar_path(model_path: os.PathLike | str) -> Path:
    return Path(str(model_path) + SIDECAR_SUFFIX)


def read_sidecar(model_path: os.PathLike | str) -> Optional[dict]:
    """The lineage sidecar of a model, or None when it has none (or it is unreadable)."""
    side = sidecar_path(model_path)
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable lineage file %s: %s", side, exc)
        return None
    return data if isinstance(data, dict) else None


def is_hearth_made(lineage: Optional[dict]) -> bool:
    """True when a sidecar says how Hearth made the model (method and parent);
    an evaluation alone is stored beside the user's own models too."""
    return bool(lineage and lineage.get("method") and lineage.get("parent"))


_SIDECAR_LOCK = threading.Lock()


def write_sidecar(model_path: os.PathLike | str, data: dict) -> dict:
    """Merge ``data``'s top-level keys into the model's sidecar (atomically)
    and return the merged document. Values must be JSON-serialisable."""
    with _SIDECAR_LOCK:
        merged = dict(read_sidecar(model_path) or {})
        merged.update(data)
        text = json.dumps(merged, indent=2, ensure_ascii=False, default=str)
        with atomic_write(sidecar_path(model_path), "w") as handle:
            handle.write(text + "\n")
    return merged


def lineage_record(parent: os.PathLike | str, method: str, settings: dict) -> dict:
    """A fresh lineage document for a variant made from ``parent``."""
    parent = Path(parent).resolve()
    return {
        "parent": str(parent),
        "parent_name": parent.name,
        "method": method,
        "settings": settings,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


__all__ = ["SIDECAR_SUFFIX", "sidecar_path", "read_sidecar", "is_hearth_made", "write_sidecar", "lineage_record"]
