"""Layer pruning on the real default model (Gemma 3 270M, 18 blocks, local and
global attention layers) and on a small hand-made GGUF for the metadata rules."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gguf import GGUFReader, GGUFValueType, GGUFWriter

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.llm.gguf_header import read_gguf_info
from desktop_app.core.llm.lineage import read_sidecar
from desktop_app.core.llm.optimize.prune import PruneError, layer_attention_types, prune, rank_layers

CALIBRATION = None  # the bundled calibration text


@pytest.fixture(scope="module")
def ranking(default_llm):
    return rank_layers(default_llm, CALIBRATION, n_ctx=128, max_windows=2)


@pytest.fixture(scope="module")
def pruned(default_llm, ranking, tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned") / "gemma-pruned-2.gguf"
    progress = []
    result = prune(default_llm, out, 2, ranking=ranking, report=progress.append)
    return result, progress


def _is_swa_from_llama_load(path, caplog) -> list[int]:
    """Per-layer attention types as llama.cpp itself decides them on load.

    llama.cpp has one process-wide log sink, and Hearth's session routes it
    into Python logging once any model was loaded in this process; install
    that route now so the result does not depend on which tests ran before.
    """
    import logging

    import llama_cpp

    from desktop_app.core.llm import session as session_module

    session_module._install_native_log()
    with caplog.at_level(logging.DEBUG, logger="llama_cpp.native"):
        llm = llama_cpp.Llama(str(path), n_ctx=64, n_threads=1, verbose=True)
        llm.close()
    err = "\n".join(r.getMessage() for r in caplog.records if r.name == "llama_cpp.native")
    flags = [int(m.group(2)) for m in re.finditer(r"layer\s+(\d+) assigned to device \S+, is_swa = (\d)", err)]
    n_layer = int(re.search(r"n_layer\s+=\s+(\d+)", err).group(1))
    return flags[:n_layer]


def _tensor_bytes(path, info, name) -> bytes:
    t = next(t for t in info.tensors if t.name == name)  # offset: absolute, from the header reader
    with open(path, "rb") as handle:
        handle.seek(t.offset)
        return handle.read(t.n_bytes)


def test_ranking_covers_every_block_and_is_repeatable(default_llm, ranking):
    assert sorted(s.layer for s in ranking) == list(range(18))
    assert [s.rank for s in ranking] == list(range(18))
    influences = [s.influence for s in ranking]
    assert influences == sorted(influences)
    assert all(0.0 <= v <= 2.0 for v in influences)
    # Not a constant: the embedding-facing first block changes the stream most.
    assert ranking[-1].influence > 5 * ranking[0].influence
    assert {s.attention for s in ranking} == {"local", "global"}
    again = rank_layers(default_llm, CALIBRATION, n_ctx=128, max_windows=2)
    assert [s.layer for s in again] == [s.layer for s in ranking]
    assert np.allclose([s.influence for s in again], influences, rtol=1e-6)


def test_pruned_model_is_valid_smaller_and_generates(default_llm, ranking, pruned):
    import llama_cpp

    result, progress = pruned
    least = [s.layer for s in ranking if 0 < s.layer < 17][:2]
    assert result.removed_layers == sorted(least)
    assert result.block_count_after == 16
    assert result.file_size < result.source_size
    assert progress[-1].stage == "writing pruned model" and progress[-1].done == progress[-1].total

    info = read_gguf_info(result.path, with_lineage=False)
    assert info.layer_count == 16 and info.metadata["gemma3.block_count"] == 16
    names = [t.name for t in info.tensors]
    blocks = sorted({int(n.split(".")[1]) for n in names if n.startswith("blk.")})
    assert blocks == list(range(16))
    source = read_gguf_info(default_llm, with_lineage=False)
    assert len(names) == len(source.tensors) - 2 * 13  # 13 tensors per Gemma 3 block
    # Renumbered blocks carry their original weights (byte-identical tensor data).
    kept = result.kept_layers
    for new, old in [(0, kept[0]), (15, kept[15]), (10, kept[10])]:
        assert (_tensor_bytes(result.path, info, f"blk.{new}.ffn_down.weight")
                == _tensor_bytes(default_llm, source, f"blk.{old}.ffn_down.weight"))

    llm = llama_cpp.Llama(str(result.path), n_ctx=256, n_threads=1, verbose=False)
    try:
        text = llm("The capital of France is", max_tokens=16, temperature=0)["choices"][0]["text"]
    finally:
        llm.close()
    assert len(re.findall(r"[A-Za-z]{2,}", text)) >= 3, text


def test_kept_layers_keep_their_attention_type(default_llm, tmp_path, caplog):
    # Removing block 2 shifts old block 5 (global) to index 4, which the index
    # rule (5 local : 1 global) would make local. The per-layer array must
    # keep it global, as llama.cpp reports when it loads the file.
    _, swa = layer_attention_types(read_gguf_info(default_llm, with_lineage=False).metadata)
    assert [i for i, local in enumerate(swa) if not local] == [5, 11, 17]
    out = tmp_path / "minus-2.gguf"
    result = prune(default_llm, out, [2])
    assert "per-layer array" in result.attention_note
    expected = [int(swa[il]) for il in result.kept_layers]
    assert expected[4] == 0  # the old global block 5
    pattern = read_gguf_info(out, with_lineage=False).metadata["gemma3.attention.sliding_window_pattern"]
    assert pattern == expected
    assert _is_swa_from_llama_load(out, caplog) == expected
    lineage = read_sidecar(out)
    assert lineage["method"] == "prune" and lineage["settings"]["removed_layers"] == [2]
    assert "attention" in lineage["settings"]


def test_lineage_names_layers_calibration_and_ranking(pruned):
    result, _ = pruned
    lineage = read_sidecar(result.path)
    assert lineage["method"] == "prune"
    assert lineage["settings"]["removed_layers"] == result.removed_layers
    assert len(lineage["settings"]["ranking"]) == 18
    assert lineage["parent_name"] == "gemma-3-270m-q4_k_m.gguf"


def test_cancel_while_writing_leaves_no_file(default_llm, tmp_path):
    text = (tmp_path / "notes.txt")
    text.write_text("The quick brown fox jumps over the lazy dog. " * 60)
    out = tmp_path / "cal.gguf"
    token = CancelToken()
    seen = []

    def stop_when_writing(p):
        seen.append(p)
        # The first report of a stage always passes the rate limit; later
        # per-tensor ones may all fall inside one 100 ms window on a fast disk.
        if p.stage == "writing pruned model":
            token.cancel()

    # Cancel while writing: the ranking ran on the given text, and nothing is left behind.
    with pytest.raises(Cancelled):
        prune(default_llm, out, 1, calibration_text=text, token=token, report=stop_when_writing)
    assert any(p.stage == "ranking layers" for p in seen)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [text]


def test_bad_requests_are_clear(default_llm, tmp_path):
    with pytest.raises(PruneError, match="layers 0..17"):
        prune(default_llm, tmp_path / "x.gguf", [18])
    with pytest.raises(PruneError, match="can remove"):
        prune(default_llm, tmp_path / "x.gguf", 17)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(PruneError, match="not a readable GGUF"):
        prune(junk, tmp_path / "y.gguf", [1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.gguf"]


def _tiny_gguf(path, n_layer=6):
    w = GGUFWriter(path, "gemma3")
    w.add_uint32("gemma3.block_count", n_layer)
    w.add_uint32("gemma3.attention.sliding_window", 512)
    w.add_key_value("gemma3.feed_forward_length", [100 + i for i in range(n_layer)],
                    GGUFValueType.ARRAY, sub_type=GGUFValueType.UINT32)
    w.add_key_value("gemma3.attention.head_count_kv", [i % 3 for i in range(n_layer)],
                    GGUFValueType.ARRAY, sub_type=GGUFValueType.INT32)
    w.add_key_value("gemma3.some_floats", [float(i) / 2 for i in range(n_layer)],
                    GGUFValueType.ARRAY, sub_type=GGUFValueType.FLOAT32)
    w.add_array("general.tags", ["a", "b", "c", "d", "e", "f"][:n_layer])  # same length, not per-layer
    w.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    for il in range(n_layer):
        w.add_tensor(f"blk.{il}.attn_norm.weight", np.full(4, il, dtype=np.float32))
        w.add_tensor(f"blk.{il}.ffn_up.weight", np.full((2, 4), il * 10, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_every_per_layer_array_is_sliced(tmp_path):
    src = tmp_path / "tiny.gguf"
    _tiny_gguf(src)
    out = tmp_path / "tiny-pruned.gguf"
    result = prune(src, out, [1, 3])
    assert result.kept_layers == [0, 2, 4, 5]
    r = GGUFReader(out)
    assert r.fields["gemma3.block_count"].contents() == 4
    assert r.fields["gemma3.feed_forward_length"].contents() == [100, 102, 104, 105]
    assert r.fields["gemma3.attention.head_count_kv"].contents() == [0, 2, 1, 2]
    assert r.fields["gemma3.some_floats"].contents() == [0.0, 1.0, 2.0, 2.5]
    assert r.fields["general.tags"].contents() == ["a", "b", "c", "d", "e", "f"]
    # Period-6 rule of the original: layers 0-4 local, 5 global.
    assert r.fields["gemma3.attention.sliding_window_pattern"].contents() == [1, 1, 1, 0]
    by_name = {t.name: np.asarray(t.data) for t in r.tensors}
    assert sorted(by_name) == sorted(["token_embd.weight"] + [f"blk.{i}.{k}" for i in range(4)
                                                              for k in ("attn_norm.weight", "ffn_up.weight")])
    for new, old in enumerate(result.kept_layers):
        assert (by_name[f"blk.{new}.attn_norm.weight"] == old).all()
        assert (by_name[f"blk.{new}.ffn_up.weight"] == old * 10).all()
    assert set(result.lineage["settings"]["sliced_metadata"]) == {
        "gemma3.feed_forward_length", "gemma3.attention.head_count_kv", "gemma3.some_floats"}
