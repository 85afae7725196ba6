"""`hearth model prune` and `hearth model evaluate` end to end on the real model."""

from __future__ import annotations

import json

from desktop_app.cli import main


def test_prune_then_evaluate_from_the_command_line(default_llm, tmp_path, capsys):
    data = tmp_path / "data"
    out = tmp_path / "minus-3-4.gguf"
    assert main(["--data-dir", str(data), "model", "prune", str(default_llm), "--remove-layers", "3,4",
                 "-o", str(out), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["removed_layers"] == [3, 4] and doc["block_count_after"] == 16
    assert out.is_file()

    # The parent is found from the lineage; the markdown table lists the model.
    chart = tmp_path / "chart.png"
    assert main(["--data-dir", str(data), "model", "evaluate", str(out), "--ctx", "64", "--windows", "1",
                 "--no-speed", "--chart", str(chart), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (evaluation,) = doc["evaluations"]
    assert evaluation["parent"] == str(default_llm.resolve())
    assert evaluation["kl_mean"] > 0 and evaluation["perplexity"] > 1
    assert chart.read_bytes()[:4] == b"\x89PNG"

    # A file that is not a model: a clear message, exit 2, no traceback.
    junk = tmp_path / "junk.gguf"
    junk.write_text("hello")
    assert main(["--data-dir", str(data), "model", "prune", str(junk), "--remove-layers", "1",
                 "-o", str(tmp_path / "x.gguf")]) == 2
    err = capsys.readouterr().err
    assert "not a readable GGUF" in err and "Traceback" not in err
