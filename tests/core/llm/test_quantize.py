"""Quantization on the real default model: dequantize it to F16 once, then
quantize that with llama.cpp (in a child process), load every result with
llama-cpp-python and generate from it."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest

from desktop_app.core.jobs import Cancelled, CancelToken
from desktop_app.core.llm.catalog import ModelCatalog
from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info
from desktop_app.core.llm.lineage import read_sidecar
from desktop_app.core.llm.optimize.quantize import QuantizeError, dequantize, estimate, quantize


def _assert_progress(reports, stage, total):
    mine = [p for p in reports if p.stage == stage]
    assert mine, f"no {stage} progress"
    dones = [p.done for p in mine]
    assert dones == sorted(dones), "progress went backwards"
    assert {p.total for p in mine} == {total}
    assert dones[-1] == total


def _generate(path) -> str:
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=256, n_threads=2, verbose=False)
    try:
        out = llm("The capital of France is", max_tokens=8, temperature=0.0)
        return out["choices"][0]["text"]
    finally:
        llm.close()


@pytest.fixture(scope="session")
def f16_model(default_llm, tmp_path_factory):
    """The packaged Q4_K_M model converted back to F16 (~540 MB), once."""
    folder = tmp_path_factory.mktemp("f16")
    reports = []
    result = dequantize(default_llm, folder / "gemma-f16.gguf", report=reports.append)
    return result, reports


@pytest.fixture(scope="session")
def q_models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("quantized")


def test_dequantize_writes_a_valid_f16_model(f16_model, default_llm):
    result, reports = f16_model
    src = read_gguf_info(default_llm)
    info = read_gguf_info(result.path)
    assert info.file_type == "F16"
    assert set(info.tensor_types) == {"F16", "F32"}
    assert info.parameter_count == src.parameter_count
    assert info.tensor_count == src.tensor_count
    assert all(t.type == "F32" for t in info.tensors if len(t.shape) == 1)  # norms, as llama.cpp
    assert info.metadata["gemma3.block_count"] == 18
    assert info.lineage["method"] == "dequantize" and info.lineage["parent"] == str(default_llm.resolve())
    _assert_progress(reports, "dequantizing", src.tensor_count)
    assert not [p for p in result.path.parent.iterdir() if p.name.startswith(".")]


def test_quantize_q8_0_generates_and_joins_catalog(f16_model, q_models_dir, app_paths, default_llm):
    f16 = f16_model[0].path
    catalog = ModelCatalog(app_paths, project_models_dir=None, include_default=False)
    reports = []
    out = q_models_dir / "gemma-q8_0.gguf"
    result = quantize(f16, out, "Q8_0", report=reports.append, catalog=catalog)
    info = read_gguf_info(out)
    assert info.file_type == "Q8_0" and "Q8_0" in info.tensor_types
    assert result.file_size == out.stat().st_size < f16.stat().st_size * 0.6
    assert abs(estimate(f16, "Q8_0").bytes - result.file_size) < 0.05 * result.file_size
    _assert_progress(reports, "quantizing", info.tensor_count)
    assert reports[-1].detail.startswith(("blk.", "output", "token"))
    # lineage and catalog
    lineage = read_sidecar(out)
    assert lineage["method"] == "quantize" and lineage["settings"]["type"] == "Q8_0"
    assert lineage["parent"] == str(f16.resolve()) and "created" in lineage
    listed = {e.path: e for e in catalog.list()}
    assert listed[out.resolve()].info.lineage["settings"]["type"] == "Q8_0"
    family = catalog.variants_of(out)
    # packaged Q4_K_M -> dequantized F16 -> Q8_0
    assert family.path == default_llm.resolve()
    assert [c.path for c in family.children] == [f16.resolve()]
    assert [c.path for c in family.children[0].children] == [out.resolve()]
    assert _generate(out).strip()


def test_quantize_q4_k_m_with_importance_matrix(f16_model, q_models_dir):
    from desktop_app.core.llm.optimize._quantize_child import load_imatrix_entries
    from desktop_app.core.llm.optimize.imatrix import compute_imatrix, default_calibration_text

    f16 = f16_model[0].path
    imatrix = q_models_dir / "calibration.imatrix.gguf"
    reports = []
    text = default_calibration_text().read_text(encoding="utf-8")[:20000]
    result = compute_imatrix(f16, text, imatrix, n_ctx=256, chunks=1, report=reports.append)
    _assert_progress(reports, "calibrating", 1)
    entries = load_imatrix_entries(str(imatrix))
    # every matrix multiplication in every block, last block included
    assert result.entries == len(entries) == 18 * 7
    assert entries["blk.0.ffn_down.weight"].shape == (2048,)
    last = entries["blk.17.ffn_up.weight"]
    assert (last >= 0).all() and (last > 0).mean() > 0.9

    out = q_models_dir / "gemma-q4_k_m.gguf"
    reports = []
    quantize(f16, out, "Q4_K_M", imatrix=imatrix, report=reports.append)
    info = read_gguf_info(out)
    assert info.file_type == "Q4_K_M" and "Q4_K" in info.tensor_types
    assert abs(estimate(f16, "Q4_K_M").bytes - info.file_size) < 0.05 * info.file_size
    assert info.lineage["settings"]["imatrix"] == str(imatrix.resolve())
    _assert_progress(reports, "quantizing", info.tensor_count)
    assert _generate(out).strip()


def test_cancel_midway_leaves_no_file_and_no_child(f16_model, tmp_path):
    f16 = f16_model[0].path
    token = CancelToken()
    seen = []

    def report(p):
        seen.append(p)
        if p.stage == "quantizing" and p.done >= 20:
            token.cancel()

    out = tmp_path / "cancelled.gguf"
    with pytest.raises(Cancelled):
        quantize(f16, out, "Q4_0", token=token, report=report)
    assert 20 <= seen[-1].done < seen[-1].total
    assert list(tmp_path.iterdir()) == []  # neither the model nor its temporary
    children = [c for c in psutil.Process().children(recursive=True)
                if "_quantize_child" in " ".join(c.cmdline())]
    assert children == []


def test_requantizing_is_refused_unless_allowed(default_llm, tmp_path):
    out = tmp_path / "requant.gguf"
    with pytest.raises(QuantizeError, match="already quantized.*Q4_K_M"):
        quantize(default_llm, out, "Q8_0")
    assert not out.exists()


def test_bad_inputs_give_clear_errors(f16_model, tmp_path):
    f16 = f16_model[0].path
    text = tmp_path / "notes.gguf"
    text.write_text("just text\n" * 100)
    with pytest.raises(GGUFError, match="not a GGUF model"):
        quantize(text, tmp_path / "x.gguf", "Q8_0")
    with pytest.raises(QuantizeError, match="unknown quantization type"):
        quantize(f16, tmp_path / "x.gguf", "Q7_X")
    bad_imatrix = tmp_path / "bad.imatrix"
    bad_imatrix.write_bytes(b"\x00\x00\x00\x00")
    with pytest.raises(QuantizeError, match="importance matrix"):
        quantize(f16, tmp_path / "x.gguf", "Q4_K_M", imatrix=bad_imatrix)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.imatrix", "notes.gguf"]


def test_cli_quantize_calibrates_low_bit_types_and_flags_requant(default_llm, tmp_path, capsys):
    from desktop_app.cli import main

    text = tmp_path / "my-notes.txt"
    text.write_text(Path(__file__).read_text() * 4)  # any real text of a few thousand tokens
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "requant-q3_k_s.gguf"
    code = main(["--data-dir", str(tmp_path / "data"), "model", "quantize", str(default_llm), "--type", "q3_k_s",
                 "-o", str(out), "--allow-requant", "--calibration", str(text), "--chunks", "1", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    doc = json.loads(captured.out)
    assert doc["type"] == "Q3_K_S" and doc["requantized"] is True
    assert "expected size about" in captured.err and "ppl" in captured.err
    assert "calibrating on my-notes.txt" in captured.err
    lineage = read_sidecar(out)
    assert lineage["settings"]["requantized"] is True
    assert lineage["settings"]["calibration"].startswith(str(text)) and "1 windows" in lineage["settings"]["calibration"]
    assert read_gguf_info(out).file_type == "Q3_K_S"
    # the computed importance matrix was temporary
    assert sorted(p.name for p in out_dir.iterdir()) == ["requant-q3_k_s.gguf", "requant-q3_k_s.gguf.hearth.json"]
    # without the flag the CLI refuses cleanly, before calibrating
    code = main(["--data-dir", str(tmp_path / "data"), "model", "quantize", str(default_llm), "--type", "Q3_K_S",
                 "-o", str(tmp_path / "no.gguf")])
    err = capsys.readouterr().err
    assert code == 2 and "already quantized" in err and "calibrating" not in err
    assert not (tmp_path / "no.gguf").exists()


def test_ctrl_c_in_the_cli_cancels_and_leaves_nothing(f16_model, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    f16 = f16_model[0].path
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "interrupted.gguf"
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--data-dir", str(tmp_path / "data"), "model", "quantize",
         str(f16), "--type", "Q8_0", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # wait until the child is writing its (hidden, temporary) output
        while time.monotonic() < deadline:
            parts = [p for p in out_dir.iterdir() if p.name.endswith(".hearth-part")]
            if parts and parts[0].stat().st_size > 1_000_000:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("quantization never started writing")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert "cancelled" in err.decode()
    assert "Traceback" not in err.decode()
    assert list(out_dir.iterdir()) == []
    leftovers = [p for p in psutil.process_iter(["cmdline"])
                 if str(out_dir) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
