"""The embedder's ONNX export, made once per user in a shared cache: a run
killed mid-export (kill -9, for real) leaves nothing that lasts, two
processes exporting at once make one export, a new data dir reuses it, and
the exporter's warnings (torch's TracerWarning...) never reach the user's
terminal. Real CLI processes, the real exporter."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers", reason="the exporter is not installed (packaged app)")


def _cli(data: Path, cache: Path, docs: Path) -> subprocess.Popen:
    env = dict(os.environ, HEARTH_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-m", "desktop_app", "--data-dir", str(data), "library", "add",
                             str(docs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)


def _parts(cache: Path) -> list[Path]:
    folder = cache / "embedder"
    return [p for p in folder.glob(".*.part")] if folder.is_dir() else []


def _exports(cache: Path) -> list[Path]:
    return [p for p in (cache / "embedder").iterdir() if p.is_dir() and not p.name.startswith(".")]


def test_export_once_per_user_survives_kill_9_and_two_processes(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The boiler was serviced in March by Hale & Sons.\n", encoding="utf-8")
    cache = tmp_path / "cache"

    # 1. kill -9 while the first run exports.
    first = _cli(tmp_path / "data1", cache, docs)
    try:
        deadline = time.monotonic() + 180
        while not _parts(cache):
            assert first.poll() is None, first.communicate()[1].decode()
            assert time.monotonic() < deadline, "the export never started"
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the export (it takes tens of seconds)
        assert first.poll() is None
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert _parts(cache), "the kill should have left the partial export behind"

    # 2. Two data dirs at once on the same cache: one export, both index.
    runs = [_cli(tmp_path / "data2", cache, docs), _cli(tmp_path / "data3", cache, docs)]
    results = [run.communicate(timeout=600) for run in runs]
    for run, (_, err) in zip(runs, results):
        text = err.decode()
        assert run.returncode == 0, text
        assert "Warning" not in text and "Traceback" not in text, text
    assert _parts(cache) == [], "the abandoned partial export is still there"
    [export] = _exports(cache)
    logs = "".join((tmp_path / d / "logs" / "hearth.log").read_text() for d in ("data2", "data3"))
    assert logs.count("to ONNX int8") == 1, "two processes exported the same model"
    assert "removing an abandoned embedder export" in logs

    # 3. Another data dir later: no export at all, the cache is reused.
    again = _cli(tmp_path / "data4", cache, docs)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert "to ONNX int8" not in (tmp_path / "data4" / "logs" / "hearth.log").read_text()
    assert _exports(cache) == [export]
