"""Models already on this computer: GGUF files that other apps keep, found in
place (never copied) with the names those apps give them.

Each app stores its models its own way (layouts checked against the apps'
sources and docs, not guessed):

- LM Studio: ``~/.lmstudio/models/<publisher>/<repo>/*.gguf`` (older
  versions: ``~/.cache/lm-studio/models``).
- Ollama: content-addressed blobs ``models/blobs/sha256-<hex>``; the names
  live in ``models/manifests/<host>/<namespace>/<model>/<tag>`` (JSON whose
  layer of media type ``application/vnd.ollama.image.model`` names the blob
  by digest ``sha256:<hex>``). ``OLLAMA_MODELS`` moves the store.
- GPT4All: ``~/.local/share/nomic.ai/GPT4All/*.gguf``.
- Jan: ``~/jan/models/<id>/``, or ``~/.local/share/Jan/data/models`` and,
  since 0.6, ``.../Jan/data/llamacpp/models/<id>/model.gguf``.
- Hugging Face hub cache: ``hub/models--<org>--<name>/snapshots/<rev>/*.gguf``,
  symlinks into ``blobs/`` (``HF_HUB_CACHE``, ``HF_HOME`` move it).
- llama.cpp's download cache: ``~/.cache/llama.cpp`` (``LLAMA_CACHE``).
- Folders the user adds (searched a few levels deep).

A file still being downloaded (``*.part``, ``*.incomplete``, Ollama's
``-partial`` blobs, llama.cpp's ``.downloadInProgress``, GPT4All's
``incomplete-`` prefix) is reported with that reason, but only when it is
recognisably a GGUF (its name or its first bytes say so), so other apps'
unrelated downloads are not listed.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress

log = logging.getLogger(__name__)

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"
_PARTIAL_SUFFIXES = (".part", ".partial", ".incomplete", ".download", ".crdownload",
                     ".downloadinprogress", ".tmp")
_MAX_DEPTH = 6          # user folders: deep enough for publisher/repo/file, not a whole disk
_MAX_FILES = 50_000     # directory entries looked at per place, a guard against a huge tree


@dataclass(frozen=True)
class Place:
    """Somewhere models are kept: one app's store, or a user's folder."""
    key: str            # "lmstudio", "ollama", ... or "folder"
    label: str          # for people: "LM Studio"


PLACES: tuple[Place, ...] = (
    Place("lmstudio", "LM Studio"),
    Place("ollama", "Ollama"),
    Place("gpt4all", "GPT4All"),
    Place("jan", "Jan"),
    Place("huggingface", "Hugging Face cache"),
    Place("llamacpp", "llama.cpp cache"),
)
PLACE_LABELS = {p.key: p.label for p in PLACES} | {"folder": "Your folder"}


@dataclass(frozen=True)
class FoundModel:
    path: Path                     # the file itself (symlinks resolved), read in place
    place: str                     # a Place key, or "folder"
    name: str                      # what the app calls it: "gemma3:270m", "org/repo/file.gguf"
    problem: Optional[str] = None  # why it cannot be used yet (e.g. a download in progress)


@dataclass(frozen=True)
class ScanRequest:
    """Which places to look in; built from the settings."""
    places: tuple[str, ...] = tuple(p.key for p in PLACES)
    folders: tuple[Path, ...] = ()


# --- where each app keeps its models --------------------------------------------------

def _home(env: Mapping[str, str]) -> Path:
    return Path(env.get("HOME") or Path.home())


def _xdg(env: Mapping[str, str], var: str, default: str) -> Path:
    value = env.get(var)
    return Path(value) if value else _home(env) / default


def roots(place: str, env: Mapping[str, str]) -> list[Path]:
    """The folders an app may use, newest layout first (all are scanned)."""
    home = _home(env)
    data, cache = _xdg(env, "XDG_DATA_HOME", ".local/share"), _xdg(env, "XDG_CACHE_HOME", ".cache")
    if place == "lmstudio":
        return [home / ".lmstudio" / "models", cache / "lm-studio" / "models"]
    if place == "ollama":
        return [Path(env["OLLAMA_MODELS"])] if env.get("OLLAMA_MODELS") else [home / ".ollama" / "models"]
    if place == "gpt4all":
        return [data / "nomic.ai" / "GPT4All"]
    if place == "jan":
        return [home / "jan" / "models", data / "Jan" / "data" / "models",
                data / "Jan" / "data" / "llamacpp" / "models"]
    if place == "huggingface":
        if env.get("HF_HUB_CACHE"):
            return [Path(env["HF_HUB_CACHE"])]
        hf_home = Path(env["HF_HOME"]) if env.get("HF_HOME") else cache / "huggingface"
        return [hf_home / "hub"]
    if place == "llamacpp":
        return [Path(env["LLAMA_CACHE"])] if env.get("LLAMA_CACHE") else [cache / "llama.cpp"]
    raise ValueError(f"unknown place {place!r}")


# --- recognising files ------------------------------------------------------------

def _partial_kind(name: str) -> Optional[str]:
    lower = name.lower()
    for suffix in _PARTIAL_SUFFIXES:
        if lower.endswith(suffix):
            return suffix
    if lower.startswith("incomplete-"):
        return "incomplete-"
    if "-partial" in lower and lower.startswith("sha256"):
        return "-partial"
    return None


def _starts_with_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"GGUF"
    except OSError:
        return False


def _is_model_name(name: str) -> bool:
    # importance matrices and vision projectors are GGUF but not chat models
    lower = name.lower()
    return (lower.endswith(".gguf") and not name.startswith(".")
            and not lower.endswith(".imatrix.gguf") and "mmproj" not in lower)


def _partial(path: Path, place: str, name: str) -> Optional[FoundModel]:
    kind = _partial_kind(path.name)
    if kind is None:
        return None
    if ".gguf" not in path.name.lower() and not _starts_with_gguf(path):
        return None
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return FoundModel(path, place, name, f"half-downloaded ({path.name}, {size:,} bytes so far); "
                      f"finish the download in {PLACE_LABELS.get(place, 'its app')} first")


def _walk(root: Path, token: CancelToken, max_depth: int = _MAX_DEPTH) -> Iterator[Path]:
    """Files under ``root`` (not following folder symlinks, so a loop or a link
    to ``/`` cannot run away), hidden folders skipped."""
    seen = 0
    root_depth = len(root.parts)
    for folder, dirs, files in os.walk(root, followlinks=False, onerror=lambda e: log.info("skip %s", e)):
        token.check()
        here = Path(folder)
        if len(here.parts) - root_depth >= max_depth:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            seen += 1
            if seen > _MAX_FILES:
                log.warning("stopped scanning %s after %d files", root, _MAX_FILES)
                return
            yield here / f


def _resolved(path: Path) -> Path:
    try:
        return path.resolve(strict=True)
    except (OSError, RuntimeError):
        return path


def _scan_tree(root: Path, place: str, token: CancelToken,
               name_of: Callable[[Path], str], max_depth: int = _MAX_DEPTH) -> list[FoundModel]:
    found = []
    for path in _walk(root, token, max_depth):
        part = _partial(path, place, name_of(path))
        if part is not None:
            found.append(part)
        elif _is_model_name(path.name):
            if path.is_symlink() and not path.exists():
                found.append(FoundModel(path, place, name_of(path),
                                        "the link points at a file that is missing (a download not finished, "
                                        "or a cache that was cleaned)"))
            else:
                found.append(FoundModel(_resolved(path), place, name_of(path)))
    return found


def _relative_name(root: Path) -> Callable[[Path], str]:
    def name(path: Path) -> str:
        rel = path.relative_to(root)
        # Jan names a model by its folder and calls the file model.gguf
        if rel.stem == "model" and len(rel.parts) > 1:
            return "/".join(rel.parts[:-1])
        return "/".join(rel.parts)
    return name


def _scan_huggingface(root: Path, token: CancelToken) -> list[FoundModel]:
    found = []
    try:
        repos = sorted(p for p in root.iterdir() if p.name.startswith("models--") and p.is_dir())
    except OSError:
        return found
    for repo in repos:
        token.check()
        repo_id = repo.name[len("models--"):].replace("--", "/")
        snapshots = repo / "snapshots"
        if snapshots.is_dir():
            for snap in sorted(snapshots.iterdir()):
                found += _scan_tree(snap, "huggingface", token,
                                    lambda p, snap=snap: f"{repo_id}/{'/'.join(p.relative_to(snap).parts)}")
        blobs = repo / "blobs"
        if blobs.is_dir():
            for blob in sorted(blobs.iterdir()):
                part = _partial(blob, "huggingface", f"{repo_id} (downloading)")
                if part is not None:
                    found.append(part)
    # the same file in two snapshots is one model
    unique: dict[Path, FoundModel] = {}
    for f in found:
        unique.setdefault(f.path, f)
    return list(unique.values())


def ollama_name(manifest: Path, manifests_root: Path) -> str:
    """Ollama's own name for a manifest: ``gemma3:270m`` for the default
    registry's library, ``host/namespace/model:tag`` otherwise."""
    parts = manifest.relative_to(manifests_root).parts
    if len(parts) < 4:
        return ":".join(parts)
    host, namespace, model, tag = parts[0], "/".join(parts[1:-2]), parts[-2], parts[-1]
    if host == "registry.ollama.ai" and namespace == "library":
        return f"{model}:{tag}"
    if host == "registry.ollama.ai":
        return f"{namespace}/{model}:{tag}"
    return f"{host}/{namespace}/{model}:{tag}"


def _scan_ollama(root: Path, token: CancelToken) -> list[FoundModel]:
    found: list[FoundModel] = []
    manifests, blobs = root / "manifests", root / "blobs"
    named: set[Path] = set()
    if manifests.is_dir():
        for manifest in _walk(manifests, token):
            name = ollama_name(manifest, manifests)
            try:
                doc = json.loads(manifest.read_text(encoding="utf-8"))
                layers = [layer for layer in doc.get("layers", [])
                          if isinstance(layer, dict) and layer.get("mediaType") == OLLAMA_MODEL_LAYER]
            except (OSError, ValueError, AttributeError) as exc:
                found.append(FoundModel(manifest, "ollama", name, f"Ollama's manifest is unreadable ({exc})"))
                continue
            for layer in layers:
                digest = str(layer.get("digest", ""))
                blob = blobs / digest.replace(":", "-", 1)
                if not digest.startswith("sha256:") or not blob.is_file():
                    found.append(FoundModel(blob, "ollama", name,
                                            f"Ollama lists this model but its weights ({digest or 'no digest'}) "
                                            "are not in its blob store"))
                    continue
                named.add(blob)
                found.append(FoundModel(blob.resolve(), "ollama", name))
    if blobs.is_dir():
        for blob in sorted(blobs.iterdir()):
            if blob not in named:
                part = _partial(blob, "ollama", f"Ollama download {blob.name[:19]}")
                if part is not None:
                    found.append(part)
    # several tags (latest, 270m) may name one blob: keep one entry, all names
    merged: dict[Path, FoundModel] = {}
    for f in found:
        if f.path in merged and f.problem is None:
            old = merged[f.path]
            merged[f.path] = FoundModel(f.path, "ollama", f"{old.name}, {f.name}", old.problem)
        else:
            merged.setdefault(f.path, f)
    return list(merged.values())


def scan_place(place: str, env: Mapping[str, str], token: CancelToken) -> list[FoundModel]:
    found: list[FoundModel] = []
    for root in roots(place, env):
        if not root.is_dir():
            continue
        if place == "ollama":
            found += _scan_ollama(root, token)
        elif place == "huggingface":
            found += _scan_huggingface(root, token)
        else:
            found += _scan_tree(root, place, token, _relative_name(root))
    return found


def discover(request: ScanRequest, *, env: Optional[Mapping[str, str]] = None,
             token: Optional[CancelToken] = None, report: Report = ignore_progress) -> list[FoundModel]:
    """Every model file in the requested places, each once (by real path)."""
    env = os.environ if env is None else env
    token = token or CancelToken()
    jobs: list[tuple[str, Optional[Path]]] = [(p, None) for p in request.places if p in PLACE_LABELS]
    jobs += [("folder", Path(f).expanduser()) for f in request.folders]
    found: list[FoundModel] = []
    for i, (place, folder) in enumerate(jobs):
        token.check()
        report(Progress("looking for models", i, len(jobs), PLACE_LABELS.get(place, place)))
        try:
            if folder is None:
                found += scan_place(place, env, token)
            elif folder.is_dir():
                found += _scan_tree(folder, "folder", token, _relative_name(folder))
            else:
                log.info("model folder %s is not there; skipped", folder)
        except OSError as exc:  # one unreadable store must not hide the others
            log.warning("scanning %s failed: %s", folder or place, exc)
    report(Progress("looking for models", len(jobs), len(jobs), ""))
    seen: set[Path] = set()
    unique = []
    for f in found:
        if f.path not in seen:
            seen.add(f.path)
            unique.append(f)
    return unique


def request_from_settings(settings) -> ScanRequest:
    """The places the user ticked in Settings, and their own folders."""
    places = tuple(p.key for p in PLACES if getattr(settings, f"scan_{p.key}", False))
    folders = tuple(Path(f) for f in split_folders(getattr(settings, "model_folders", "") or ""))
    return ScanRequest(places, folders)


def split_folders(text: str) -> list[str]:
    return [part.strip() for part in text.split(os.pathsep) if part.strip()]


__all__ = ["Place", "PLACES", "PLACE_LABELS", "FoundModel", "ScanRequest", "roots", "scan_place", "discover",
           "ollama_name", "request_from_settings", "split_folders", "OLLAMA_MODEL_LAYER"]
