"""The GPU layers setting reaches llama.cpp's model parameters (tested on a
CPU build, where llama.cpp accepts and ignores it)."""

from __future__ import annotations

from desktop_app.core.llm.session import LlmSession
from desktop_app.core.settings import Settings


def test_gpu_layers_setting_reaches_llama_cpp(app_paths, default_llm):
    settings = Settings(context_length=512, gpu_layers=7)
    session = LlmSession(app_paths, settings)
    try:
        assert session.load(default_llm).gpu_layers == 7
        settings.gpu_layers = 1000          # "all": llama.cpp's INT32_MAX
        info = session.load(default_llm)
        assert info.gpu_layers == 0x7FFFFFFF and info.to_dict()["gpu_layers"] == 0x7FFFFFFF
        settings.gpu_layers = 0
        assert session.load(default_llm).gpu_layers == 0
        # and the model still answers on this build
        assert session.count_tokens("hello world") > 0
    finally:
        session.close()
