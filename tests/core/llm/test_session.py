"""The model session with the real packaged GGUF: loading, streaming, stop,
grammar, the owner thread, and bad model files that must not crash."""

from __future__ import annotations

import os
import shutil
import struct
import threading

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.llm.session import GenerationError, LlmSession, ModelLoadError
from desktop_app.core.settings import Settings


def small_settings(**changes) -> Settings:
    return Settings(**{"context_length": 2048, "max_tokens": 64, "temperature": 0.0, **changes})


@pytest.fixture(scope="module")
def session(default_llm, tmp_path_factory):
    from desktop_app.core.paths import AppPaths

    paths = AppPaths.at(tmp_path_factory.mktemp("session-data")).ensure()
    llm = LlmSession(paths, small_settings())
    llm.load(default_llm)
    yield llm
    llm.close()


def test_load_reports_progress_and_describes_the_model(default_llm, app_paths):
    reports = []
    llm = LlmSession(app_paths, small_settings())
    try:
        info = llm.load(default_llm, report=reports.append)
        assert llm.loaded is info
        assert info.architecture == "gemma3"
        assert info.n_ctx == 2048 and llm.n_ctx == 2048
        assert info.n_ctx_train >= 2048
        # The packaged default is a base model without a chat template.
        assert info.chat_template is None and llm.chat_template is None
        assert [r.stage for r in reports if r.done == r.total][-1] == "loading model"
    finally:
        llm.close()
    assert llm.loaded is None


def test_streams_tokens_from_the_owner_thread(session):
    pieces, threads = [], set()

    def on_token(text):
        pieces.append(text)
        threads.add(threading.get_ident())

    result = session.generate("The three primary colours are red,", on_token=on_token, max_tokens=24)
    assert result.tokens > 0 and result.prompt_tokens > 5
    assert "".join(pieces) == result.text
    assert len(pieces) > 3  # streamed, not delivered at the end
    assert threading.get_ident() not in threads and len(threads) == 1
    assert result.first_token_ms > 0 and result.tokens_per_s > 0
    assert result.stopped in ("length", "eos")


def test_multibyte_characters_split_across_tokens_stream_intact(session):
    # Rare characters fall back to byte tokens: one character arrives in
    # several tokens and must never be shown half-decoded.
    target = "𝔘𝔫𝔦 日本 café ✓"
    pieces = []
    grammar = 'root ::= "' + target + '"'
    result = session.generate("Write it:", on_token=pieces.append, grammar=grammar, max_tokens=40)
    assert result.text == target
    assert "".join(pieces) == target
    assert all("\ufffd" not in p for p in pieces)
    byte_tokens = result.tokens - len(pieces)
    assert byte_tokens > 0, "expected some characters to span several tokens"


def test_stop_from_another_thread_ends_within_one_token(session):
    token = CancelToken()
    produced = []
    reached = threading.Event()
    at_cancel = []

    def on_token(text):
        produced.append(text)
        if len(produced) == 8:
            reached.set()

    def stopper():
        reached.wait(60)
        at_cancel.append(len(produced))
        token.cancel()

    helper = threading.Thread(target=stopper)
    helper.start()
    result = session.generate("Count: 1, 2, 3, 4, 5, 6, 7,", token=token, on_token=on_token, max_tokens=400)
    helper.join()
    assert result.stopped == "cancelled" and result.cancelled
    assert at_cancel and result.tokens <= at_cancel[0] + 1 + 1  # + the token in flight when cancelled
    assert result.tokens < 100
    assert result.text == "".join(produced)
    # The session is still usable after a stop.
    assert session.generate("Hello", max_tokens=4).tokens > 0


def test_stop_strings_end_generation_and_are_not_streamed(session):
    pieces = []
    result = session.generate("Count: 1, 2, 3, 4,", on_token=pieces.append, stop=[", 7"], max_tokens=40)
    assert result.stopped == "stop"
    assert ", 7" not in result.text and result.text.strip().startswith("5")
    assert "".join(pieces) == result.text


def test_grammar_constrains_output(session):
    result = session.generate("Is the sky green? Answer:", grammar='root ::= " " ("yes" | "no")', max_tokens=8)
    assert result.text in (" yes", " no")


def test_bad_grammar_is_an_error_not_a_crash(session):
    with pytest.raises(GenerationError, match="grammar"):
        session.generate("x", grammar="root ::= (unclosed", max_tokens=4)
    assert session.generate("Hello", max_tokens=2).tokens > 0


def test_prompt_longer_than_the_context_is_refused(session):
    with pytest.raises(GenerationError, match="context"):
        session.generate("word " * 3000, max_tokens=4)


def test_tokenizer_counts(session):
    assert session.count_tokens("") == 0
    tokens = session.tokenize("Hearth keeps your documents private.")
    assert 3 < len(tokens) < 20
    assert session.detokenize(tokens) == "Hearth keeps your documents private."


def test_cancel_before_start_and_generate_without_model(app_paths):
    llm = LlmSession(app_paths, small_settings())
    try:
        with pytest.raises(GenerationError, match="no model"):
            llm.generate("hi")
        token = CancelToken()
        token.cancel()
        with pytest.raises(Cancelled):
            llm.load(None, token=token)
    finally:
        llm.close()


def test_close_stops_the_owner_thread_and_refuses_more_work(default_llm, app_paths):
    before = set(threading.enumerate())
    llm = LlmSession(app_paths, small_settings())
    llm.load(default_llm)
    owners = [t for t in threading.enumerate() if t not in before and t.name == "hearth-llm"]
    assert len(owners) == 1
    llm.close()
    assert not owners[0].is_alive()
    with pytest.raises(GenerationError):
        llm.generate("hi")
    llm.close()  # idempotent


# --- model files that must give a clear error, never a crash -------------------

def _header_bytes(path) -> bytes:
    """Everything before the tensor data (metadata and tensor infos)."""
    from desktop_app.core.llm.gguf_header import read_gguf_info

    data_start = min(t.offset for t in read_gguf_info(path, with_lineage=False).tensors)
    with open(path, "rb") as handle:
        return handle.read(data_start)


def _bad_models(default_llm, folder):
    size = default_llm.stat().st_size
    made = {}
    made["not_gguf.gguf"] = b"This is a text file, not a model.\n" * 100
    made["empty.gguf"] = b""
    made["garbage_header.gguf"] = b"GGUF" + struct.pack("<I", 3) + os.urandom(4096)
    made["bad_version.gguf"] = b"GGUF" + struct.pack("<I", 99) + _header_bytes(default_llm)[8:]
    for name, data in made.items():
        (folder / name).write_bytes(data)
    # A download cut short: the real header, half the tensor data.
    truncated = folder / "truncated.gguf"
    with open(default_llm, "rb") as src, open(truncated, "wb") as dst:
        dst.write(src.read(size // 2))
    # A complete, well-formed file that llama.cpp refuses: an unknown
    # architecture (the data is sparse zeros, the header is real).
    header = bytearray(_header_bytes(default_llm))
    at = header.index(b"general.architecture") + len("general.architecture") + 4 + 8
    assert header[at:at + 6] == b"gemma3"
    header[at:at + 6] = b"gemmx3"
    unknown = folder / "unknown_arch.gguf"
    unknown.write_bytes(bytes(header))
    os.truncate(unknown, size)
    return sorted(folder.iterdir())


def test_corrupt_truncated_and_foreign_files_give_model_load_error(default_llm, app_paths, tmp_path):
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    llm = LlmSession(app_paths, small_settings())
    try:
        messages = {}
        for path in _bad_models(default_llm, bad_dir):
            with pytest.raises(ModelLoadError) as info:
                llm.load(path)
            messages[path.name] = str(info.value)
            assert llm.loaded is None
        assert "truncated" in messages["truncated.gguf"]
        assert "GGUF" in messages["not_gguf.gguf"]
        assert "llama.cpp" in messages["unknown_arch.gguf"]
        with pytest.raises(ModelLoadError):
            llm.load(tmp_path / "missing.gguf")
        with pytest.raises(ModelLoadError):
            llm.load(bad_dir)
        # The session is still fine for a good model afterwards.
        llm.load(default_llm)
        assert llm.generate("Hello", max_tokens=2).tokens > 0
    finally:
        llm.close()
