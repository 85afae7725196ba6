"""Typed settings, declared in one place with defaults and validation.

Stored as JSON in the config dir with a schema version. Unknown keys are
ignored, invalid values fall back to their default (with a warning in the
log), so a hand-edited or older file never stops the app from starting.
"""

from __future__ import annotations

import dataclasses
import json
import os
import logging
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from desktop_app.core.paths import atomic_write

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


class SettingsError(ValueError):
    pass


def _range(lo, hi):
    def check(value):
        if not (lo <= value <= hi):
            raise SettingsError(f"must be between {lo} and {hi}")
    return check


def _choice(*options):
    def check(value):
        if value not in options:
            raise SettingsError(f"must be one of {', '.join(map(str, options))}")
    return check


def _setting(default, check=None, help="", offered=None):
    """``offered``: for a choice, a function giving the options this
    installation can use (an editor shows only those; a stored value stays
    valid by ``check``)."""
    return field(default=default, metadata={"check": check, "help": help, "offered": offered})


def _runnable_embedder_backends():
    from desktop_app.core.library.embed import available_backends

    return available_backends()   # the packaged app has no torch


@dataclass
class Settings:
    # Model session
    model_path: Optional[str] = _setting(None, help="GGUF file to chat with; empty means the packaged default")
    context_length: int = _setting(4096, _range(512, 131072), "context window in tokens")
    temperature: float = _setting(0.2, _range(0.0, 2.0), "sampling temperature")
    max_tokens: int = _setting(384, _range(16, 8192), "longest answer in tokens")
    threads: int = _setting(0, _range(0, 256), "CPU threads for generation (0 = all cores)")
    gpu_layers: int = _setting(0, _range(0, 1000), "layers to offload to the GPU (0 = CPU only; 1000 = all); "
                               "needs a GPU build of llama-cpp-python")
    # Models other apps keep on this computer (read in place, never copied)
    scan_lmstudio: bool = _setting(True, help="list models in LM Studio's models folder")
    scan_ollama: bool = _setting(True, help="list models Ollama has pulled (names from its manifests)")
    scan_gpt4all: bool = _setting(True, help="list models in GPT4All's folder")
    scan_jan: bool = _setting(True, help="list models in Jan's models folder")
    scan_huggingface: bool = _setting(True, help="list GGUF files in the Hugging Face download cache")
    scan_llamacpp: bool = _setting(True, help="list models in llama.cpp's download cache")
    model_folders: Optional[str] = _setting(None, help="more folders with GGUF models, separated by "
                                            f"'{os.pathsep}'")
    # Library
    embedder_backend: str = _setting("onnx-int8", _choice("torch", "onnx-int8"), "embedding backend",
                                     offered=_runnable_embedder_backends)
    chunk_tokens: int = _setting(200, _range(32, 512), "chunk size in embedder tokens")
    chunk_overlap: int = _setting(40, _range(0, 256), "overlap between chunks in tokens")
    retrieval_k: int = _setting(5, _range(1, 20), "passages given to the model")
    watch_folders: bool = _setting(True, help="re-index changed files while the app runs")
    # Appearance
    theme: str = _setting("system", _choice("system", "light", "dark"), "colour scheme")
    # Diagnostics
    log_content: bool = _setting(False, help="write questions and document text into the log file when "
                                             "something fails (for debugging; off keeps them out of it)")

    def validate(self) -> None:
        for f in fields(self):
            check = f.metadata.get("check")
            if check is not None:
                try:
                    check(getattr(self, f.name))
                except SettingsError as exc:
                    raise SettingsError(f"{f.name} {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["schema_version"] = SCHEMA_VERSION
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Settings":
        settings = cls()
        for f in fields(cls):
            if f.name not in data:
                continue
            value = data[f.name]
            default = getattr(settings, f.name)
            if default is not None and value is not None and not isinstance(value, type(default)):
                if isinstance(default, float) and isinstance(value, int):
                    value = float(value)
                else:
                    log.warning("setting %s has the wrong type; using the default", f.name)
                    continue
            check = f.metadata.get("check")
            try:
                if check is not None:
                    check(value)
            except SettingsError as exc:
                log.warning("setting %s %s; using the default", f.name, exc)
                continue
            setattr(settings, f.name, value)
        return settings

    @classmethod
    def load(cls, path: Path) -> "Settings":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("could not read settings %s (%s); using defaults", path, exc)
            return cls()
        if not isinstance(data, dict):
            return cls()
        return cls.from_dict(data)

    def save(self, path: Path) -> None:
        self.validate()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with atomic_write(path, "w") as handle:
            json.dump(self.to_dict(), handle, indent=2, sort_keys=True)
