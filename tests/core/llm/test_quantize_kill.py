"""kill -9 of a running `model quantize` (a real CLI process quantizing the
real default model): its child quantizer dies with it, and the hidden
partial output it leaves is removed by the next run, while a part that a
live process owns is never touched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from desktop_app.core.childproc import OwnedPart, remove_stale_parts
from desktop_app.core.llm.catalog import ModelCatalog
from desktop_app.core.paths import AppPaths


def _quantizers(out_dir) -> list:
    return [p for p in psutil.process_iter(["cmdline"])
            if "_quantize_child" in " ".join(p.info["cmdline"] or []) and str(out_dir) in " ".join(p.info["cmdline"])]


def test_kill_9_of_quantize_takes_its_child_along_and_the_next_run_cleans_up(default_llm, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "killed.gguf"
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_app", "--data-dir", str(tmp_path / "data"), "model", "quantize",
         str(default_llm), "--type", "Q8_0", "--allow-requant", "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the child is writing its hidden output
            parts = [p for p in out_dir.iterdir() if p.name.endswith(".hearth-part")]
            if parts and parts[0].stat().st_size > 1_000_000 and _quantizers(out_dir):
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("quantization never started writing")
        os.kill(proc.pid, signal.SIGKILL)  # the parent only, as a crash or `kill -9` would
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while _quantizers(out_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _quantizers(out_dir) == [], "the quantizer outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for child in _quantizers(out_dir):
            child.kill()
    [part] = [p for p in out_dir.iterdir() if p.name.endswith(".hearth-part")]
    assert not out.exists()

    # A part whose owner lives is left alone, in this process and in another.
    mine = OwnedPart(out_dir / "busy.gguf")
    try:
        assert not part.exists(), "creating a part cleans the folder's abandoned ones"
        assert remove_stale_parts(out_dir) == []
        assert mine.path.exists()
    finally:
        mine.release(remove=True)


def test_the_catalog_removes_abandoned_parts_of_its_folders(tmp_path, default_llm):
    paths = AppPaths.at(tmp_path / "data").ensure()
    abandoned = paths.models_dir / ".model.gguf.x1.hearth-part"
    abandoned.write_bytes(b"GGUF" + b"\0" * 100)  # as left by a killed run (no owner)
    owned = OwnedPart(paths.models_dir / "model.gguf")
    try:
        ModelCatalog(paths, project_models_dir=None, include_default=False).list()
        assert not abandoned.exists() and owned.path.exists()
    finally:
        owned.release(remove=True)
