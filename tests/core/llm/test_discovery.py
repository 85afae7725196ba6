"""Models other apps keep, found in place: each app's real folder layout is
built under a temporary HOME with the real default GGUF (hard links, or
copies where the filesystem has none), then listed through the catalog."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.llm.catalog import ModelCatalog
from desktop_app.core.llm.discovery import (PLACES, ScanRequest, discover, ollama_name, request_from_settings)
from desktop_app.core.settings import Settings


def _place(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)
    return dest


def _truncated(src: Path, dest: Path, n_bytes: int = 1 << 20) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as handle:
        dest.write_bytes(handle.read(n_bytes))
    return dest


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _ollama_manifest(path: Path, model_digest: str, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "c" * 64, "size": 487},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": model_digest, "size": size},
            {"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:" + "d" * 64, "size": 358},
            {"mediaType": "application/vnd.ollama.image.params", "digest": "sha256:" + "e" * 64, "size": 77},
        ]}))


@pytest.fixture(scope="module")
def machine(default_llm, tmp_path_factory):
    """A HOME where every app has the default model (and some broken files)."""
    home = tmp_path_factory.mktemp("home")
    f = {}
    f["lmstudio"] = _place(default_llm, home / ".lmstudio/models/lmstudio-community/gemma-3-270m-it-GGUF"
                                               "/gemma-3-270m-it-Q4_K_M.gguf")
    f["lmstudio-old"] = _place(default_llm, home / ".cache/lm-studio/models/TheBloke/gemma-GGUF/gemma.Q4_K_M.gguf")
    digest = _sha256(default_llm)
    blob = _place(default_llm, home / f".ollama/models/blobs/sha256-{digest}")
    f["ollama"] = blob
    manifests = home / ".ollama/models/manifests"
    size = default_llm.stat().st_size
    _ollama_manifest(manifests / "registry.ollama.ai/library/gemma3/270m", f"sha256:{digest}", size)
    _ollama_manifest(manifests / "registry.ollama.ai/library/gemma3/latest", f"sha256:{digest}", size)
    _ollama_manifest(manifests / "registry.ollama.ai/library/llama3/8b", "sha256:" + "a" * 64, 4_000_000_000)
    _truncated(default_llm, home / ".ollama/models/blobs" / ("sha256-" + "b" * 64 + "-partial"))
    f["gpt4all"] = _place(default_llm, home / ".local/share/nomic.ai/GPT4All/gemma-3-270m.Q4_K_M.gguf")
    _truncated(default_llm, home / ".local/share/nomic.ai/GPT4All/incomplete-mistral-7b.Q4_0.gguf")
    f["jan"] = _place(default_llm, home / ".local/share/Jan/data/llamacpp/models/gemma3-270m/model.gguf")
    f["jan-truncated"] = _truncated(default_llm, home / "jan/models/tinyllama-1.1b/tinyllama-1.1b.Q4_K_M.gguf")
    hub = home / ".cache/huggingface/hub/models--unsloth--gemma-3-270m-it-GGUF"
    hub_blob = _place(default_llm, hub / "blobs" / digest)
    snap = hub / "snapshots" / ("f" * 40)
    snap.mkdir(parents=True)
    (snap / "gemma-3-270m-it-Q4_K_M.gguf").symlink_to(Path("../../blobs") / digest)
    (hub / "refs").mkdir()
    (hub / "refs/main").write_text("f" * 40)
    f["huggingface"] = hub_blob
    _truncated(default_llm, hub / "blobs" / ("9" * 64 + ".incomplete"))
    # another app's unrelated download: not a GGUF, must not be listed
    other = home / ".cache/huggingface/hub/models--org--bert/blobs"
    other.mkdir(parents=True)
    (other / ("8" * 64 + ".incomplete")).write_bytes(b"PK\x03\x04" + b"\0" * 100)
    f["llamacpp"] = _place(default_llm, home / ".cache/llama.cpp/ggml-org_gemma-3-270m-GGUF_gemma-3-270m-Q4_K_M.gguf")
    _truncated(default_llm, home / ".cache/llama.cpp/ggml-org_big-GGUF_big-Q8_0.gguf.downloadInProgress")
    f["folder"] = _place(default_llm, home / "Documents/models/mine/gemma-mine.gguf")
    (home / "Documents/models/mine/gemma-mine.gguf.imatrix.gguf").write_bytes(b"GGUF")  # not a model
    return home, f


def _catalog(app_paths, home, request: ScanRequest, env: dict | None = None) -> ModelCatalog:
    return ModelCatalog(app_paths, project_models_dir=None, include_default=False,
                        scan=lambda: request, env={"HOME": str(home), **(env or {})})


def test_every_app_layout_is_listed_in_place_with_its_name(machine, app_paths, default_llm):
    home, f = machine
    request = ScanRequest(folders=(home / "Documents/models",))
    entries = _catalog(app_paths, home, request).list()
    by_path = {e.path: e for e in entries}

    def entry(key):
        return by_path[f[key].resolve()]

    expected = {
        "lmstudio": ("lmstudio", "lmstudio-community/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q4_K_M.gguf"),
        "lmstudio-old": ("lmstudio", "TheBloke/gemma-GGUF/gemma.Q4_K_M.gguf"),
        "ollama": ("ollama", "gemma3:270m, gemma3:latest"),
        "gpt4all": ("gpt4all", "gemma-3-270m.Q4_K_M.gguf"),
        "jan": ("jan", "gemma3-270m"),
        "huggingface": ("huggingface", "unsloth/gemma-3-270m-it-GGUF/gemma-3-270m-it-Q4_K_M.gguf"),
        "llamacpp": ("llamacpp", "ggml-org_gemma-3-270m-GGUF_gemma-3-270m-Q4_K_M.gguf"),
        "folder": ("folder", "mine/gemma-mine.gguf"),
    }
    size = default_llm.stat().st_size
    for key, (place, name) in expected.items():
        e = entry(key)
        assert (e.source, e.app_name) == (place, name), key
        assert e.ok, (key, e.error)
        assert e.info.architecture == "gemma3" and e.info.quantization == "Q4_K_M"
        assert e.info.file_size == size
    # The Ollama blob has no name of its own: the label is the manifest's name.
    assert entry("ollama").label == "gemma3:270m, gemma3:latest (Q4_K_M)"
    # Read in place: nothing was copied into Hearth's models folder.
    assert not any(app_paths.models_dir.glob("*.gguf"))

    problems = {e.path.name: e.error for e in entries if not e.ok}
    assert "truncated" in problems["tinyllama-1.1b.Q4_K_M.gguf"]
    assert "half-downloaded" in problems["sha256-" + "b" * 64 + "-partial"]
    assert "half-downloaded" in problems["incomplete-mistral-7b.Q4_0.gguf"]
    assert "half-downloaded" in problems["9" * 64 + ".incomplete"]
    assert "half-downloaded" in problems["ggml-org_big-GGUF_big-Q8_0.gguf.downloadInProgress"]
    assert "not in its blob store" in problems["sha256-" + "a" * 64]
    assert by_path[home / ".ollama/models/blobs" / ("sha256-" + "a" * 64)].app_name == "llama3:8b"
    # a non-GGUF download of another app and an importance matrix are not models
    assert "8" * 64 + ".incomplete" not in problems
    assert not any(p.name.endswith(".imatrix.gguf") for p in by_path)
    # each file once, though the hub's snapshot and blob are two paths to it
    assert len(by_path) == len(entries)


def test_only_the_places_chosen_are_scanned(machine, app_paths):
    home, f = machine
    entries = _catalog(app_paths, home, ScanRequest(places=("ollama", "jan"))).list()
    assert {e.source for e in entries} == {"ollama", "jan"}
    assert _catalog(app_paths, home, ScanRequest(places=())).list() == []


def test_environment_variables_move_the_stores(machine, app_paths, tmp_path, default_llm):
    home, f = machine
    moved = tmp_path / "elsewhere"
    _place(default_llm, moved / "llama-cache/custom.gguf")
    _place(default_llm, moved / "hf/hub/models--a--b/snapshots/1/x.gguf")
    env = {"LLAMA_CACHE": str(moved / "llama-cache"), "HF_HOME": str(moved / "hf"),
           "OLLAMA_MODELS": str(moved / "nowhere")}
    found = discover(ScanRequest(places=("llamacpp", "huggingface", "ollama")), env={"HOME": str(home), **env})
    assert sorted((m.place, m.name) for m in found) == [("huggingface", "a/b/x.gguf"), ("llamacpp", "custom.gguf")]


def test_ollama_names_follow_ollama(tmp_path):
    root = tmp_path / "manifests"
    assert ollama_name(root / "registry.ollama.ai/library/gemma3/270m", root) == "gemma3:270m"
    assert ollama_name(root / "registry.ollama.ai/someone/tuned/q4", root) == "someone/tuned:q4"
    assert ollama_name(root / "hf.co/unsloth/gemma-3-270m-it-GGUF/Q4_K_M", root) == \
        "hf.co/unsloth/gemma-3-270m-it-GGUF:Q4_K_M"


def test_settings_choose_the_places(tmp_path):
    settings = Settings()
    assert request_from_settings(settings).places == tuple(p.key for p in PLACES)
    settings.scan_ollama = False
    settings.model_folders = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    path = tmp_path / "settings.json"
    settings.save(path)
    request = request_from_settings(Settings.load(path))
    assert "ollama" not in request.places and "lmstudio" in request.places
    assert request.folders == (tmp_path / "a", tmp_path / "b")


def test_a_scan_can_be_cancelled(machine):
    home, _ = machine
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        discover(ScanRequest(), env={"HOME": str(home)}, token=token)
