"""No model file can take Hearth down: files that make llama.cpp abort or
crash, made from the real default model with the ``gguf`` package, give one
sentence and leave the loaded model loaded. If the protection failed, these
tests would kill the test process itself (that is how they reproduce it)."""

from __future__ import annotations

import os

import pytest

from desktop_app.cli import main
from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info
from desktop_app.core.llm.probe import ProbeFailed, VerifiedModels, probe_model
from desktop_app.core.llm.session import LlmSession, ModelLoadError
from desktop_app.core.settings import Settings
from tests.gguf_edit import copy_with_field, copy_with_token


@pytest.fixture(scope="module")
def broken(default_llm, tmp_path_factory):
    folder = tmp_path_factory.mktemp("broken-models")
    return {
        # llama.cpp: GGML_ASSERT(n_layer_all <= LLAMA_MAX_LAYERS) -> abort (the case)
        "layers": copy_with_field(default_llm, folder / "layers-999.gguf", "gemma3.block_count", 999),
        # a vocabulary with a duplicate token (<bos> renamed <eos>): passes every
        # header check; llama.cpp aborts on it (GGML_ASSERT in llama-vocab.cpp)
        "crash": copy_with_token(default_llm, folder / "duplicate-token.gguf", 2, "<eos>"),
    }


def settings() -> Settings:
    return Settings(context_length=2048, max_tokens=16, temperature=0.0)


def test_the_header_check_refuses_a_layer_count_llama_cpp_would_abort_on(broken, tmp_path, capsys):
    with pytest.raises(GGUFError, match="999 layers"):
        read_gguf_info(broken["layers"])
    data = tmp_path / "data"
    for command in (["model", "info", str(broken["layers"])], ["model", "add", str(broken["layers"])]):
        assert main(["--data-dir", str(data), *command]) == 2
        err = capsys.readouterr().err
        assert "999 layers" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1


def test_the_probe_turns_a_native_assert_into_a_sentence(broken):
    # Straight to llama.cpp, past the header check: the child aborts, we don't.
    with pytest.raises(ProbeFailed) as failure:
        probe_model(broken["layers"], 512)
    message = str(failure.value)
    assert message.startswith("layers-999.gguf cannot be used")
    assert "SIGABRT" in message and "LLAMA_MAX_LAYERS" in message
    with pytest.raises(ProbeFailed, match="SIGABRT.*token_to_id"):
        probe_model(broken["crash"], 512)


def test_a_crashing_model_is_refused_and_the_loaded_model_stays(default_llm, broken, app_paths):
    llm = LlmSession(app_paths, settings())
    verified = VerifiedModels(app_paths.data_dir / "verified-models.json")
    try:
        first = llm.load(default_llm)
        assert verified.is_verified(default_llm)
        with pytest.raises(ModelLoadError) as failure:
            llm.load(broken["crash"])
        assert "duplicate-token.gguf cannot be used" in str(failure.value)
        assert "\n" not in str(failure.value)
        assert llm.loaded is first, "the previous model must stay loaded"
        assert llm.generate("The capital of France is", max_tokens=3).tokens > 0
        assert not verified.is_verified(broken["crash"]), "a failed file must be probed again next time"
    finally:
        llm.close()


def test_a_verified_file_loads_directly_until_it_changes(default_llm, app_paths, tmp_path):
    model = tmp_path / "model.gguf"
    os.link(default_llm, model)
    verified = VerifiedModels(app_paths.data_dir / "verified-models.json")
    llm = LlmSession(app_paths, settings())
    try:
        assert not verified.is_verified(model)
        llm.load(model)
        assert verified.is_verified(model)
        os.utime(model, ns=(0, 0))  # touched (e.g. replaced by a download): probe again
        assert not verified.is_verified(model)
    finally:
        llm.close()


def test_ask_with_a_crashing_model_is_one_sentence(broken, tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "ask", "hi", "--model", str(broken["crash"]), "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "duplicate-token.gguf cannot be used" in err and "Traceback" not in err
