"""The shared workflows on the real default model: the F16 route of
quantize keeps the real parent in the lineage and leaves no temporaries;
evaluate finds the recorded parent by itself."""

from __future__ import annotations

from desktop_app.core.llm.gguf_header import read_gguf_info
from desktop_app.core.llm.lineage import read_sidecar
from desktop_app.core.llm.workflows import evaluate_variant, quantize_variant, recorded_parent


def test_quantize_from_f16_names_the_real_parent_then_evaluate_finds_it(default_llm, tmp_path):
    out = tmp_path / "via-f16-Q8_0.gguf"
    result = quantize_variant(default_llm, out, "Q8_0", from_f16=True)
    assert read_gguf_info(out).quantization == "Q8_0"
    lineage = read_sidecar(out)
    assert lineage == result.lineage
    assert lineage["parent"] == str(default_llm.resolve()) and lineage["settings"]["via"] == "F16"
    assert lineage["settings"]["source_type"] == "Q4_K_M" and "earlier quantization loss" in \
        lineage["settings"]["warning"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name, out.name + ".hearth.json"]

    assert recorded_parent(out) == default_llm.resolve()
    evaluation = evaluate_variant(out, n_ctx=64, max_windows=1, measure_speed=False)
    assert evaluation.parent == str(default_llm.resolve()) and evaluation.kl_mean is not None
    assert evaluate_variant(out, parent=None, n_ctx=64, max_windows=1, measure_speed=False).kl_mean is None
