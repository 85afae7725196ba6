"""Fit a model in a size budget, on the real default model's F16 parent:
the search quantizes real mixes with llama.cpp, measures their KL from the
parent, and builds one that is smaller than the budget, loads and generates."""

from __future__ import annotations

import pytest

from desktop_app.core.jobs import Cancelled, CancelToken
from desktop_app.core.llm.catalog import read_gguf_info, read_sidecar
from desktop_app.core.llm.fit import FitError, fit
from desktop_app.core.llm.optimize.quantize import dequantize


@pytest.fixture(scope="module")
def f16_parent(default_llm, tmp_path_factory):
    return dequantize(default_llm, tmp_path_factory.mktemp("fit-f16") / "gemma-f16.gguf").path


def test_fitted_variant_is_under_budget_loads_and_generates(f16_parent, tmp_path):
    from llama_cpp import Llama

    budget = 220_000_000  # the Q4_K_M preset of this model is ~253 MB: the search must step down
    reports = []
    out = tmp_path / "fitted.gguf"
    result = fit(f16_parent, out, budget, windows=2, max_steps=1, report=reports.append)
    assert out.is_file() and out.stat().st_size <= budget
    assert result.chosen.file_size == out.stat().st_size
    assert result.chosen.types, "a mix under the budget overrides at least one group"
    start = next(c for c in result.candidates if not c.types)
    assert start.file_size > budget            # the start preset did not fit
    assert len(result.candidates) >= 2 and all(c.kl_mean >= 0 for c in result.candidates)
    assert any(p.stage == "measuring" for p in reports)
    # The overrides reached llama.cpp: the file's tensor types are the mix's.
    types = {t.name: t.type for t in read_gguf_info(out).tensors}
    for group, qtype in result.chosen.types:
        if group == "token_embd":
            assert types["token_embd.weight"] == qtype
    lineage = read_sidecar(out)
    assert lineage["method"] == "fit" and lineage["parent"] == str(f16_parent.resolve())
    assert lineage["settings"]["overrides"] == dict(result.chosen.types)
    assert not list(tmp_path.glob(".*")), "work files left behind"
    llm = Llama(model_path=str(out), n_ctx=256, n_threads=2, verbose=False)
    try:
        text = llm("The capital of France is", max_tokens=8, temperature=0.0)["choices"][0]["text"]
    finally:
        llm.close()
    assert text.strip()


def test_cancelled_fit_leaves_nothing(f16_parent, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        fit(f16_parent, tmp_path / "fitted.gguf", 200_000_000, token=token)
    assert list(tmp_path.iterdir()) == []


def test_quantized_source_is_refused(default_llm, tmp_path):
    with pytest.raises(FitError, match="F16 or F32 parent"):
        fit(default_llm, tmp_path / "fitted.gguf", 200_000_000)
