"""`hearth model info --ctx`, `model fit-check` and `model list` with the
models other apps keep, on the real default model."""

from __future__ import annotations

import json
import shutil

from desktop_app.cli import main


def test_fit_check_and_info_with_a_context(default_llm, tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "model", "fit-check", str(default_llm), "--ctx", "8192", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    est = doc["check"]["estimate"]
    assert est["n_ctx"] == 8192 and est["kv_cache"] == 144 << 20   # llama.cpp's own figure for this model
    assert doc["check"]["fits"] is True and doc["gpu_offload"] is False
    assert "CPU only" in doc["gpu_note"]

    assert main(["--data-dir", str(data), "model", "info", str(default_llm), "--ctx", "2048"]) == 0
    out = capsys.readouterr().out
    assert "memory at 2,048 tokens" in out and "KV cache" in out and "verdict:" in out

    # a context the model cannot have is capped at its trained length
    assert main(["--data-dir", str(data), "model", "fit-check", str(default_llm), "--ctx", "131072",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["check"]["estimate"]["n_ctx"] == 32768

    junk = tmp_path / "junk.gguf"
    junk.write_text("hello")
    assert main(["--data-dir", str(data), "model", "fit-check", str(junk)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_model_list_includes_another_apps_model(default_llm, tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    gpt4all = home / ".local/share/nomic.ai/GPT4All"
    gpt4all.mkdir(parents=True)
    shutil.copyfile(default_llm, gpt4all / "gemma-3-270m.Q4_K_M.gguf")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert main(["--data-dir", str(tmp_path / "data"), "model", "list", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    (found,) = [m for m in models if m["source"] == "gpt4all"]
    assert found["ok"] and found["app_name"] == "gemma-3-270m.Q4_K_M.gguf"
    assert found["path"] == str(gpt4all / "gemma-3-270m.Q4_K_M.gguf")


def test_model_fit_with_a_memory_budget(default_llm, tmp_path, capsys):
    """`model fit --max-memory-mb`: the budget converts to a file size by the
    memory estimate; too little memory, or less than the smallest size the
    model can reach, is one sentence (exit 2) and leaves nothing behind."""
    data, out = tmp_path / "data", tmp_path / "out" / "fit.gguf"
    out.parent.mkdir()
    assert main(["--data-dir", str(data), "model", "fit", str(default_llm), "--max-memory-mb", "20",
                 "--ctx", "2048", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "less than this model needs at 2,048 tokens" in err and "Traceback" not in err
    # ~100 MB of memory at 512 tokens allows a file under the ~149 MB this model can reach
    assert main(["--data-dir", str(data), "model", "fit", str(default_llm), "--max-memory-mb", "200",
                 "--ctx", "512", "--from-f16", "--windows", "2", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "200 MB of memory at 512 tokens of context (a file of at most" in err
    assert "Nothing fits" in err and "the smallest file Hearth can make from this model is about" in err
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []
