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
