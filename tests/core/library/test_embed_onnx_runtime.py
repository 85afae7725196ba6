"""The onnx-int8 embedder runs on onnxruntime + tokenizers alone.

It must give the vectors sentence-transformers' own ONNX backend gives for
the same exported model (the library's index and the chat's citations were
built and tuned with those), and a process that loads and uses it must not
import torch, transformers or sentence-transformers: the packaged app leaves
them out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.library import embed
from desktop_app.core.library.embed import EmbedderError, load_embedder
from library_corpus import STDLIB

REPO = Path(__file__).resolve().parents[3]


def _real_passages(limit: int) -> list[str]:
    """Paragraphs of real prose and code (Python's standard library), of
    every length from one word to a screenful."""
    passages: list[str] = []
    for module in ("textwrap", "argparse", "csv", "heapq", "difflib"):
        text = (STDLIB / f"{module}.py").read_text(encoding="utf-8")
        passages += [p.strip() for p in text.split("\n\n") if p.strip()]
    return passages[:limit]


@pytest.fixture(scope="module")
def mixed_texts(embedder) -> list[str]:
    texts = _real_passages(90)
    long_text = " ".join(_real_passages(400)[200:260])
    assert embedder.count_tokens(long_text) > 2 * embedder.max_tokens  # truncation is exercised
    # Empty, one character, duplicates, the long one amid short ones.
    return texts[:40] + ["", "x", long_text, texts[3]] + texts[40:] + ["   ", "Ünïcödé ✓ 東京"]


@pytest.fixture(scope="module")
def sentence_transformers_onnx(embedder):
    """sentence-transformers' ONNX backend on the very folder the embedder
    loaded (the reference the runtime reproduces)."""
    from sentence_transformers import SentenceTransformer

    assert embedder.backend == "onnx-int8"
    onnx_file = embedder.model.onnx_path.relative_to(embedder.source_dir)
    return SentenceTransformer(str(embedder.source_dir), device="cpu", backend="onnx", local_files_only=True,
                               model_kwargs={"file_name": str(onnx_file), "provider": "CPUExecutionProvider"})


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("batch_size", [32, 7])
def test_vectors_match_sentence_transformers_onnx_backend(embedder, sentence_transformers_onnx, mixed_texts,
                                                          batch_size):
    ours = embedder.encode(mixed_texts, batch_size=batch_size)
    reference = sentence_transformers_onnx.encode(mixed_texts, batch_size=batch_size, convert_to_numpy=True,
                                                  normalize_embeddings=True, show_progress_bar=False)
    assert ours.shape == (len(mixed_texts), embedder.dim) and ours.dtype == np.float32
    cosines = _cosines(ours, reference)
    worst = int(cosines.argmin())
    assert cosines.min() >= 0.9999, f"text {worst} {mixed_texts[worst][:60]!r}: cosine {cosines[worst]:.6f}"
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_single_text_matches_and_long_text_is_truncated(embedder, sentence_transformers_onnx, mixed_texts):
    long_text = max(mixed_texts, key=len)
    for text in ("", "What does the heapq module do?", long_text):
        ours = embedder.encode([text])
        reference = sentence_transformers_onnx.encode([text], convert_to_numpy=True, normalize_embeddings=True)
        assert _cosines(ours, reference)[0] >= 0.9999, text[:40]
    # Beyond max_seq_length the text is cut: appending more changes nothing.
    longer = embedder.encode([long_text + " zebra quantum " * 50, long_text])
    assert _cosines(longer[:1], longer[1:])[0] >= 0.9999


def test_token_counts_match_the_reference_tokenizer(embedder, sentence_transformers_onnx, mixed_texts):
    tokenizer = sentence_transformers_onnx.tokenizer
    for text in mixed_texts:
        expected = len(tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"])
        assert embedder.count_tokens(text) == expected
    assert embedder.max_tokens == sentence_transformers_onnx.max_seq_length == 256


_CHILD = r"""
import json, sys
from desktop_app.core.library.embed import load_embedder
embedder = load_embedder("onnx-int8", cache_dir=sys.argv[1])
vectors = embedder.encode(["Mount Erebus is an active volcano.", "", "sourdough starter"])
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers", "optimum", "scipy", "sklearn",
                           "pandas", "pyarrow") if m in sys.modules)
print(json.dumps({"heavy": heavy, "backend": embedder.backend, "source": str(embedder.source_dir),
                  "vectors": vectors.tolist()}))
"""


def test_loading_and_encoding_imports_no_torch_transformers_or_sentence_transformers(embedder):
    """The property the bundle relies on to leave torch & co. out."""
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(embedder.source_dir.parent)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"the onnx-int8 embedder imported {result['heavy']}"
    assert result["backend"] == "onnx-int8" and result["source"] == str(embedder.source_dir)
    # Same vectors as in this process (so the child really encoded).
    here = embedder.encode(["Mount Erebus is an active volcano.", "", "sourdough starter"])
    assert _cosines(np.array(result["vectors"], dtype=np.float32), here).min() >= 0.9999


def test_missing_export_without_the_exporter_is_a_clear_error(tmp_path, monkeypatch, embedder):
    """The packaged app has no sentence-transformers: with neither a shipped
    nor a cached export, loading says so instead of failing on an import."""
    # The packaged model under another path: no prebuilt export applies.
    other_model = tmp_path / "my-model"
    other_model.symlink_to(embed.default_embedder_dir(), target_is_directory=True)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes its import fail
    with pytest.raises(EmbedderError, match="no ONNX int8 export of my-model .*sentence-transformers"):
        load_embedder("onnx-int8", cache_dir=tmp_path / "cache", model_dir=other_model)
    # nothing half-made left behind (the export lock file is the cache's own)
    assert [p.name for p in (tmp_path / "cache").iterdir()] in ([], [".export.lock"])


def test_corrupt_export_is_a_clear_error(tmp_path, embedder):
    cache = tmp_path / "cache"
    copy = cache / embedder.source_dir.name
    shutil.copytree(embedder.source_dir, copy)
    onnx = copy / embedder.model.onnx_path.relative_to(embedder.source_dir)
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 3])  # a download/disk cut short
    with pytest.raises(EmbedderError, match="cannot load the ONNX int8 embedder"):
        load_embedder("onnx-int8", cache_dir=cache)


def test_torch_backend_without_torch_installed_is_a_clear_error(tmp_path, monkeypatch):
    """A settings file asking for the torch backend, in the packaged app."""
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes its import fail
    with pytest.raises(EmbedderError, match="torch embedder backend needs sentence-transformers.*onnx-int8"):
        load_embedder("torch", cache_dir=tmp_path / "cache")


def test_a_big_encode_stops_within_one_batch_when_cancelled(embedder):
    """Ingest embeds up to 256 chunks per call (seconds on a loaded laptop):
    a cancel is seen between the encoder's batches of 32, not after the call."""
    from desktop_app.core.jobs import CancelToken, Cancelled

    texts = [f"passage {i} about lighthouses, harbours and tides" for i in range(256)]
    token = CancelToken()
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            token.cancel()
        token.check()

    with pytest.raises(Cancelled):
        embedder.encode(texts, check=check)
    assert len(calls) == 3, "cancel took effect at the next batch"
    # the embedder is usable afterwards (its lock was released)
    assert embedder.encode(texts[:2]).shape == (2, embedder.dim)
