"""Evaluation on the real default model: perplexity as llama.cpp computes it
(checked against a plain reference), KL divergence from a parent, speed and
memory from a child process, results kept in the sidecar, chart."""

from __future__ import annotations

import os

import numpy as np
import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.llm.lineage import read_sidecar
from desktop_app.core.llm.optimize.evaluate import (DEFAULT_EVAL_TEXT, EvaluationError, compare, evaluate,
                                                    evaluation_key, save_chart)
from desktop_app.core.llm.optimize.prune import prune

N_CTX = 128
WINDOWS = 2


@pytest.fixture(scope="module")
def model_dir(default_llm, tmp_path_factory):
    """A folder of our own holding the default model (hard link: no copy) so
    sidecars written by the tests stay out of the shared models folder."""
    folder = tmp_path_factory.mktemp("eval-models")
    link = folder / default_llm.name
    try:
        os.link(default_llm, link)
    except OSError:
        import shutil

        shutil.copyfile(default_llm, link)
    return folder


@pytest.fixture(scope="module")
def base(model_dir):
    return model_dir / "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="module")
def pruned(base, model_dir):
    # Two blocks that matter little (middle, local attention), chosen explicitly: fast, no ranking pass.
    return prune(base, model_dir / "minus-8-9.gguf", [8, 9]).path


def reference_perplexity(model_path, text: str, n_ctx: int, max_windows: int) -> float:
    """Straightforward perplexity over llama_cpp.Llama with all logits kept:
    non-overlapping windows of n_ctx tokens, BOS first, second half scored.
    Flash attention on, as llama.cpp's default "auto" resolves on CPU and as
    the evaluator runs (Llama's own default is off, and on Gemma 3 the two
    kernels differ by ~0.8% in perplexity)."""
    import llama_cpp

    llm = llama_cpp.Llama(str(model_path), n_ctx=n_ctx, n_batch=n_ctx, logits_all=True,
                          n_threads=1, flash_attn=True, verbose=False)
    try:
        tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
        nll = []
        for w in range(min(len(tokens) // n_ctx, max_windows)):
            window = tokens[w * n_ctx:(w + 1) * n_ctx]
            window[0] = llm.token_bos()
            llm.reset()
            llm.eval(window)
            logits = np.array(llm.scores[:n_ctx], dtype=np.float64)
            for pos in range(n_ctx // 2, n_ctx - 1):
                row = logits[pos]
                logsumexp = row.max() + np.log(np.exp(row - row.max()).sum())
                nll.append(logsumexp - row[window[pos + 1]])
    finally:
        llm.close()
    return float(np.exp(np.mean(nll)))


def test_perplexity_matches_reference_implementation(base):
    text = DEFAULT_EVAL_TEXT.read_text(encoding="utf-8")
    progress = []
    result = evaluate(base, n_ctx=N_CTX, max_windows=WINDOWS, measure_speed=False, store=False,
                      report=progress.append)
    expected = reference_perplexity(base, text, N_CTX, WINDOWS)
    assert f"{result.perplexity:.3g}" == f"{expected:.3g}"
    assert result.perplexity == pytest.approx(expected, rel=5e-4)
    assert result.windows == WINDOWS
    assert result.tokens_scored == WINDOWS * (N_CTX - N_CTX // 2 - 1)
    assert 1.5 < result.perplexity < 200  # a language model reading English, not noise
    evaluating = [p for p in progress if p.stage == "evaluating"]
    assert [p.done for p in evaluating] == [1, 2] and evaluating[-1].total == 2


def test_kl_of_a_model_from_itself_is_zero(base):
    result = evaluate(base, parent=base, n_ctx=N_CTX, max_windows=WINDOWS, measure_speed=False, store=False)
    assert result.kl_mean == 0.0 and result.kl_max == 0.0
    assert result.same_top_pct == 100.0
    assert result.parent_perplexity == result.perplexity


def test_pruned_model_diverges_from_parent_and_is_measured(base, pruned):
    result = evaluate(pruned, parent=base, n_ctx=N_CTX, max_windows=WINDOWS)
    assert result.kl_mean > 0.001
    assert result.kl_p99 >= result.kl_mean and result.kl_max >= result.kl_p99
    assert 0 < result.same_top_pct < 100
    assert result.perplexity > result.parent_perplexity
    # Speed and memory from the child process that loaded only this model.
    assert result.prompt_tokens_per_s > 0 and result.gen_tokens_per_s > 0
    assert result.baseline_rss > 0 and result.peak_rss > result.baseline_rss
    assert result.model_memory > 0.5 * result.file_size  # the weights were really read
    stored = read_sidecar(pruned)
    assert stored["method"] == "prune"  # the lineage survives
    doc = stored["evaluation"][evaluation_key(result.text_sha256, N_CTX)]
    assert doc["kl_mean"] == result.kl_mean and doc["parent"] == str(base)


def test_compare_rows_and_chart(base, pruned, tmp_path):
    evaluate(base, parent=base, n_ctx=N_CTX, max_windows=1, measure_speed=False)
    rows = compare([base, pruned, tmp_path / "missing.gguf"], n_ctx=N_CTX)
    assert [r["name"] for r in rows] == [base.name, pruned.name, "missing.gguf"]
    assert rows[0]["kl_mean"] == 0.0 and rows[1]["kl_mean"] > 0
    assert rows[0]["file_size"] > rows[1]["file_size"]
    assert rows[2]["file_size"] is None and "perplexity" not in rows[2]
    png = save_chart(rows, tmp_path / "chart.png", title="test")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_cancel_between_windows_stores_nothing(pruned, base, tmp_path):
    token = CancelToken()
    seen = []

    def report(p):
        seen.append(p)
        if p.stage == "evaluating":
            token.cancel()

    text = tmp_path / "doc.txt"
    text.write_text(DEFAULT_EVAL_TEXT.read_text(encoding="utf-8")[:20000])
    before = read_sidecar(pruned)
    with pytest.raises(Cancelled):
        evaluate(pruned, text=text, parent=base, n_ctx=N_CTX, max_windows=4, measure_speed=False,
                 token=token, report=report)
    assert [p.done for p in seen if p.stage == "evaluating"] == [1]
    assert read_sidecar(pruned) == before


def test_unusable_inputs_get_clear_errors(base, tmp_path):
    with pytest.raises(EvaluationError, match="at least 256"):
        evaluate(base, text="Too short to measure anything.", n_ctx=N_CTX, measure_speed=False, store=False)
    with pytest.raises(EvaluationError, match="cannot read"):
        evaluate(base, text=tmp_path / "nope.txt", measure_speed=False, store=False)
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF" + b"\0" * 100)
    with pytest.raises(EvaluationError, match="cannot"):
        evaluate(junk, n_ctx=N_CTX, max_windows=1, store=False)


def test_peak_memory_is_the_childs_own_not_its_parents(pruned):
    # ru_maxrss survives exec on Linux: a child of a big process would report
    # the parent's size. Hold ~1.2 GB here and check the child's peak stays
    # that of the model it loaded.
    from desktop_app.core.llm.optimize.evaluate import run_probe

    ballast = np.ones(150_000_000)  # 1.2 GB, touched
    probe = run_probe(pruned, DEFAULT_EVAL_TEXT.read_text(encoding="utf-8")[:8000], n_ctx=N_CTX,
                      n_threads=1, token=CancelToken())
    assert ballast.sum() == 150_000_000
    size = pruned.stat().st_size
    assert probe["baseline_rss"] < 200e6
    assert 0.5 * size < probe["peak_rss"] - probe["baseline_rss"] < 3 * size
    assert probe["peak_rss"] < ballast.nbytes
