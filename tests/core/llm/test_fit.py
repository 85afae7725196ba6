"""Fit a model in a size budget, on the real default model's F16 parent:
the search quantizes real mixes with llama.cpp, measures their KL from the
parent, and builds one that is smaller than the budget, loads and generates."""

from __future__ import annotations

import pytest

from desktop_app.core.jobs import Cancelled, CancelToken
from desktop_app.core.llm.fit import FitError, fit
from desktop_app.core.llm.gguf_header import read_gguf_info
from desktop_app.core.llm.lineage import read_sidecar, sidecar_path
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


def test_a_memory_budget_allows_the_file_size_the_estimate_says(default_llm):
    from desktop_app.core.llm.fit import memory_budget
    from desktop_app.core.llm.memory import estimate_memory

    info = read_gguf_info(default_llm)
    for ctx in (2048, 8192):
        need = estimate_memory(info, ctx).total
        # exactly what this model needs allows exactly its own file
        assert memory_budget(info, need, ctx).file_bytes == info.file_size
        # 50 MB less memory allows a file 50 MB smaller (the rest does not depend on the types)
        smaller = memory_budget(info, need - 50_000_000, ctx)
        assert smaller.file_bytes == info.file_size - 50_000_000
        assert smaller.memory_bytes == need - 50_000_000 and smaller.n_ctx == ctx
        assert f"{ctx:,} tokens of context" in smaller.describe()
    # a longer context leaves less room for weights
    assert memory_budget(info, 400_000_000, 8192).file_bytes < memory_budget(info, 400_000_000, 2048).file_bytes
    with pytest.raises(FitError, match="less than this model needs"):
        memory_budget(info, 20_000_000, 2048)


def test_pareto_front_keeps_only_candidates_nothing_beats():
    from desktop_app.core.llm.fit import Candidate, pareto_front

    a = Candidate("Q2_K", (), 100, 0.50, 70.0, "Q2_K")
    b = Candidate("Q4_K_M+mix", (("ffn_down", "Q4_K"),), 150, 0.30, 80.0, "Q4_K_M")
    c = Candidate("Q3_K_M", (), 160, 0.35, 78.0, "Q3_K_M")      # larger than b and worse
    d = Candidate("Q4_K_M", (), 200, 0.10, 90.0, "Q4_K_M")
    assert pareto_front([d, c, b, a]) == [a, b, d]


def test_a_budget_below_the_smallest_reachable_says_so_after_one_measurement(f16_parent, tmp_path):
    from desktop_app.core.llm.fit import search_fit

    reports = []
    found = search_fit(f16_parent, 100_000_000, work_in=tmp_path, windows=2, report=reports.append)
    assert found.best is None and len(found.measured) == 1   # the start preset only
    assert found.smallest_reachable > 100_000_000
    message = found.no_fit_message()
    assert message.startswith("Nothing fits a file of at most 100 MB")
    assert f"about {found.smallest_reachable / 1e6:,.0f} MB" in message
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FitError, match="smallest file Hearth can make"):
        fit(f16_parent, tmp_path / "x.gguf", 100_000_000, windows=2)


def test_pruned_candidates_are_measured_and_one_builds_with_its_blocks_removed(f16_parent, tmp_path):
    from llama_cpp import Llama

    from desktop_app.core.llm.fit import build_fit, search_fit

    found = search_fit(f16_parent, 254_000_000, work_in=tmp_path, windows=2, max_steps=0, prune_layers=1)
    (pruned,) = found.pruned
    assert len(pruned.removed_layers) == 1 and pruned in found.measured and not pruned.is_preset
    same_mix = next(c for c in found.candidates if c.types == pruned.types)
    assert pruned.file_size < same_mix.file_size       # one block fewer
    assert pruned.kl_mean > 0 and "removed" in pruned.name and "removed" in pruned.describe()
    assert list(tmp_path.iterdir()) == []
    out = tmp_path / "fit-pruned.gguf"
    result = build_fit(found, pruned, out, evaluate_windows=None)
    assert out.stat().st_size == pruned.file_size and result.chosen == pruned
    info = read_gguf_info(out)
    assert info.layer_count == read_gguf_info(f16_parent).layer_count - 1
    settings = read_sidecar(out)["settings"]
    assert settings["removed_layers"] == list(pruned.removed_layers)
    assert {p.name for p in tmp_path.iterdir()} == {out.name, sidecar_path(out).name}   # no work files
    llm = Llama(model_path=str(out), n_ctx=256, n_threads=2, verbose=False)
    try:
        assert llm("The capital of France is", max_tokens=4, temperature=0.0)["choices"][0]["text"] is not None
    finally:
        llm.close()
