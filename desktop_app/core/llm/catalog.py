"""The model catalog: which GGUF models the user has (Hearth's own folders,
files added from anywhere, other apps' places), each with what its header
says (gguf_header.py) and how Hearth-made variants descend from each other
(lineage.py). Only Hearth-made variants may be deleted from disk through it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from desktop_app.core.childproc import remove_stale_parts
from desktop_app.core.jobs import CancelToken, Report, ignore_progress
from desktop_app.core.llm.gguf_header import GGUFError, ModelInfo, read_gguf_info
from desktop_app.core.llm.lineage import is_hearth_made, read_sidecar, sidecar_path
from desktop_app.core.paths import AppPaths, PROJECT_MODELS_DIR, atomic_write

if TYPE_CHECKING:
    from desktop_app.core.llm.discovery import ScanRequest

log = logging.getLogger(__name__)


class CatalogError(ValueError):
    """A catalog request that cannot be honoured (e.g. deleting a user's own file)."""


@dataclass(frozen=True)
class CatalogEntry:
    path: Path
    source: str                      # "default", "project", "models-dir", "added", or a discovery place
    info: Optional[ModelInfo] = None
    error: Optional[str] = None      # why the file is unusable (then info is None)
    app_name: Optional[str] = None   # the name another app gives it ("gemma3:270m"), when found there

    @property
    def ok(self) -> bool:
        return self.info is not None

    @property
    def label(self) -> str:
        if self.source == "default":
            from desktop_app.core.defaults import DEFAULT_LLM_LABEL

            return DEFAULT_LLM_LABEL
        if self.app_name:
            quant = self.info.quantization if self.info else None
            return f"{self.app_name} ({quant})" if quant and quant not in self.app_name else self.app_name
        if self.info and self.info.name:
            return f"{self.info.name} ({self.info.quantization})"
        return self.path.name

    def to_dict(self) -> dict[str, Any]:
        doc = {"path": str(self.path), "source": self.source, "label": self.label,
               "ok": self.ok, "error": self.error, "app_name": self.app_name}
        if self.info is not None:
            doc["info"] = self.info.to_dict()
        return doc


@dataclass
class VariantNode:
    path: Path
    info: Optional[ModelInfo]
    lineage: Optional[dict]
    children: list["VariantNode"] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "quantization": self.info.quantization if self.info else None,
            "file_size": self.info.file_size if self.info else None,
            "method": (self.lineage or {}).get("method"),
            "settings": (self.lineage or {}).get("settings"),
            "evaluation": (self.lineage or {}).get("evaluation"),
            "children": [c.to_dict() for c in self.children],
        }

    def walk(self) -> Iterable["VariantNode"]:
        yield self
        for child in self.children:
            yield from child.walk()


class ModelCatalog:
    """Every GGUF model Hearth knows about. Thread-safe; header reads are
    cached per (path, size, mtime) so listing stays fast."""

    STATE_FILE = "catalog.json"

    def __init__(self, paths: AppPaths, *, project_models_dir: Optional[Path] = PROJECT_MODELS_DIR,
                 include_default: bool = True, scan: Optional[Callable[[], "ScanRequest"]] = None,
                 env: Optional[dict] = None) -> None:
        """``scan`` gives the other apps' places to list (read at every
        listing, so a settings change applies at the next refresh); None
        lists only Hearth's own folders. ``env`` stands in for os.environ."""
        self.paths = paths
        self.scan = scan
        self.env = env
        self.project_models_dir = project_models_dir
        self.include_default = include_default
        self._lock = threading.RLock()
        self._cache: dict[Path, tuple[tuple[int, int], ModelInfo]] = {}

    # persisted "added from anywhere" list
    @property
    def _state_file(self) -> Path:
        return self.paths.data_dir / self.STATE_FILE

    def _added(self) -> list[Path]:
        try:
            data = json.loads(self._state_file.read_text(encoding="utf-8"))
            return [Path(p) for p in data.get("added", [])]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, AttributeError) as exc:
            log.warning("catalog state %s unreadable (%s); starting empty", self._state_file, exc)
            return []

    def _save_added(self, added: list[Path]) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(self._state_file, "w") as handle:
            json.dump({"added": [str(p) for p in added]}, handle, indent=2)

    def default_model_path(self, *, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> Path:
        from desktop_app.core.defaults import default_llm_path

        return default_llm_path(self.paths.models_dir, token=token, report=report)

    def info(self, path: os.PathLike | str) -> ModelInfo:
        """Header info (with lineage) of one file; raises GGUFError."""
        path = Path(path).expanduser().resolve()
        try:
            stat = path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = None
        with self._lock:
            cached = self._cache.get(path)
        if stamp is not None and cached is not None and cached[0] == stamp:
            info = cached[1]
        else:
            info = read_gguf_info(path, with_lineage=False)
            if stamp is not None:
                with self._lock:
                    self._cache[path] = (stamp, info)
        # Lineage is re-read every time: the evaluator updates it independently.
        return replace(info, lineage=read_sidecar(path))

    def _candidates(self, token: Optional[CancelToken], report: Report
                    ) -> list[tuple[Path, str, Optional[str], Optional[str]]]:
        found: list[tuple[Path, str, Optional[str], Optional[str]]] = []
        if self.include_default:
            try:
                found.append((self.default_model_path(token=token, report=report).resolve(), "default", None, None))
            except Exception as exc:  # noqa: BLE001 - the catalog must list the rest
                from desktop_app.core.jobs import Cancelled

                if isinstance(exc, Cancelled):
                    raise
                log.warning("default model unavailable: %s", exc)
                found.append((self.paths.models_dir, "default", f"the packaged default model is unavailable: {exc}",
                              None))
        for folder, source in ((self.project_models_dir, "project"), (self.paths.models_dir, "models-dir")):
            if folder is None or not Path(folder).is_dir():
                continue
            remove_stale_parts(Path(folder))  # partial outputs of a killed quantize/prune run
            for p in sorted(Path(folder).glob("*.gguf")):
                # hidden names are Hearth's temporaries; importance matrices are GGUF but not models
                if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".imatrix.gguf"):
                    found.append((p.resolve(), source, None, None))
        for p in self._added():
            found.append((p, "added", None, None))
        if self.scan is not None:
            from desktop_app.core.llm.discovery import discover

            for f in discover(self.scan(), env=self.env, token=token, report=report):
                found.append((f.path, f.place, f.problem, f.name))
        seen: set[Path] = set()
        unique = []
        for path, source, error, app_name in found:
            if path in seen:
                continue
            seen.add(path)
            unique.append((path, source, error, app_name))
        return unique

    def list(self, token: Optional[CancelToken] = None, report: Report = ignore_progress) -> list[CatalogEntry]:
        """All known models; unusable files are listed with their error."""
        entries = []
        for path, source, error, app_name in self._candidates(token, report):
            if token is not None:
                token.check()
            if error is not None:
                entries.append(CatalogEntry(path, source, None, error, app_name))
                continue
            try:
                entries.append(CatalogEntry(path, source, self.info(path), None, app_name))
            except GGUFError as exc:
                entries.append(CatalogEntry(path, source, None, str(exc), app_name))
        return entries

    def add(self, path: os.PathLike | str) -> CatalogEntry:
        """Remember a model file from anywhere; raises GGUFError if it is not one."""
        path = Path(path).expanduser().resolve()
        info = self.info(path)
        with self._lock:
            added = self._added()
            if path not in added and not self._in_scanned_folder(path):
                added.append(path)
                self._save_added(added)
        return CatalogEntry(path, "added", info)

    def _in_scanned_folder(self, path: Path) -> bool:
        for folder in (self.project_models_dir, self.paths.models_dir):
            if folder is not None and path.parent == Path(folder).resolve():
                return True
        return False

    def remove(self, path: os.PathLike | str, *, delete_file: bool = False) -> None:
        """Forget a model. With ``delete_file``, also delete it from disk, which
        is allowed only for variants Hearth made (its sidecar names a method
        and a parent)."""
        path = Path(path).expanduser().resolve()
        if delete_file:
            if not is_hearth_made(read_sidecar(path)):
                raise CatalogError(f"{path.name} was not made by Hearth; Hearth only forgets it, "
                                   "it never deletes your own files")
            path.unlink(missing_ok=True)
            sidecar_path(path).unlink(missing_ok=True)
        with self._lock:
            added = self._added()
            if path in added:
                added.remove(path)
                self._save_added(added)
            self._cache.pop(path, None)

    def variants_of(self, path: os.PathLike | str) -> VariantNode:
        """The family tree that ``path`` belongs to, rooted at its oldest known
        ancestor: parents come from sidecars, children are every catalog entry
        (or parent-recorded file) whose sidecar names the node as its parent."""
        path = Path(path).expanduser().resolve()
        entries = {e.path: e for e in self.list()}
        parent_of: dict[Path, Path] = {}
        for p, e in entries.items():
            lineage = e.info.lineage if e.info else read_sidecar(p)
            if lineage and lineage.get("parent"):
                parent_of[p] = Path(lineage["parent"])
        # Walk up from ``path`` (guarding against cycles in hand-edited sidecars).
        root = path
        lineage = read_sidecar(root)
        seen = {root}
        while lineage and lineage.get("parent"):
            parent = Path(lineage["parent"])
            if parent in seen:
                break
            parent_of[root] = parent  # ancestors outside the catalog still link up
            seen.add(parent)
            root = parent
            lineage = read_sidecar(root)

        def node(p: Path, depth: int = 0) -> VariantNode:
            entry = entries.get(p)
            info = entry.info if entry else None
            if info is None and entry is None:
                try:
                    info = self.info(p)
                except GGUFError:
                    info = None
            n = VariantNode(p, info, read_sidecar(p))
            if depth < 32:
                n.children = [node(c, depth + 1) for c, par in sorted(parent_of.items()) if par == p and c != p]
            return n

        return node(root)


def describe_size(n_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n_bytes < 1000 or unit == "TB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1000
    return f"{n_bytes} B"


__all__ = ["CatalogError", "CatalogEntry", "VariantNode", "ModelCatalog", "describe_size"]
