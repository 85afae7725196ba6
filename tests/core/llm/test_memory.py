"""The memory estimate on the real default model, checked against a real load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app.core.llm.gguf_header import read_gguf_info
from desktop_app.core.llm.memory import (architecture, check_fit, estimate_memory, kv_cache_bytes)
from desktop_app.core.llm.native import backend, gpu_layers_for_load

ROOT = Path(__file__).resolve().parents[3]


def test_gemma3_architecture_and_sliding_window_cache(default_llm):
    info = read_gguf_info(default_llm)
    a = architecture(info)
    assert (a.n_layer, a.n_head, a.key_length, a.value_length, a.sliding_window) == (18, 4, 256, 256, 512)
    assert a.n_head_kv == (1,) * 18 and a.n_vocab == 262144
    # every sixth layer attends globally, as llama.cpp sets Gemma 3 up
    assert [il for il, swa in enumerate(a.swa_layers) if not swa] == [5, 11, 17]
    # the numbers llama.cpp logs for this model at 8192 tokens: 24 MiB global + 120 MiB
    # full-size SWA cache; 24 + 15 MiB with the small window cache
    assert kv_cache_bytes(a, 8192) == 144 << 20
    assert kv_cache_bytes(a, 8192, swa_full=False) == 39 << 20


def test_estimate_matches_a_real_load_within_ten_percent(default_llm):
    """A child process loads the model (public C API) at 4096 tokens, decodes
    600 tokens and reports its peak RSS."""
    code = ("import json,sys; from desktop_app.core.llm.native import load_and_decode; "
            "print(json.dumps(load_and_decode(sys.argv[1], n_ctx=4096, text='The keeper wrote the log. '*300, "
            "n_tokens=600, repack=False)))")
    done = subprocess.run([sys.executable, "-c", code, str(default_llm)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    used = measured["peak"] - measured["rss_before"]
    est = estimate_memory(read_gguf_info(default_llm), 4096)
    assert abs(est.total / used - 1) <= 0.10, (est, used)


def test_a_context_that_does_not_fit_gets_a_smaller_proposal(default_llm):
    info = read_gguf_info(default_llm)
    sizes = [estimate_memory(info, n).total for n in (512, 2048, 8192, 32768)]
    assert sizes == sorted(sizes) and sizes[-1] > 2 * sizes[0]
    # the model's own limit caps what is asked
    assert estimate_memory(info, 1 << 20).n_ctx == 32768
    free = int(estimate_memory(info, 4096).total / 0.9) + 1
    verdict = check_fit(info, 32768, available=free)
    assert not verdict.fits and verdict.suggested_ctx == 4096
    assert "4,096" in verdict.message and "free" in verdict.message
    assert check_fit(info, 2048, available=free).fits
    hopeless = check_fit(info, 512, available=10_000_000)
    assert not hopeless.fits and hopeless.suggested_ctx is None and "smaller variant" in hopeless.message


def test_gpu_layers_count_only_with_a_gpu_build(default_llm):
    info = read_gguf_info(default_llm)
    cpu = estimate_memory(info, 2048, gpu_layers=18, gpu_offload=False)
    gpu = estimate_memory(info, 2048, gpu_layers=18, gpu_offload=True)
    assert cpu.on_gpu == 0 and cpu.in_ram == cpu.total
    assert 0 < gpu.on_gpu < gpu.total and gpu.in_ram < cpu.in_ram
    assert gpu_layers_for_load(1000) == 0x7FFFFFFF and gpu_layers_for_load(7) == 7


def test_the_installed_build_is_described(default_llm):
    b = backend()
    assert isinstance(b.gpu_offload, bool) and b.system_info
    assert ("GPU" in b.description) and (("CPU only" in b.description) != b.gpu_offload)
