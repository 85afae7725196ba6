"""`python -m desktop_app --self-test`, from source: the same end-to-end run
the installer's build script does on the bundle (real Qt offscreen, real
embedder, real default GGUF, real sample documents)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app import selftest
from desktop_app.selftest import CheckFailed, CheckResult, run_checks

ROOT = Path(__file__).resolve().parents[1]


def test_self_test_passes_end_to_end(tmp_path):
    report = tmp_path / "report.txt"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "desktop_app", "--self-test", "--report", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    lines = report.read_text(encoding="utf-8").splitlines()
    # One PASS line per check, in order, then the summary.
    assert [line.split()[0] for line in lines[:-1]] == ["PASS"] * len(selftest.CHECKS)
    for (name, _check), line in zip(selftest.CHECKS, lines):
        assert name in line
    assert lines[-1].startswith(f"SELF-TEST PASSED: {len(selftest.CHECKS)}/{len(selftest.CHECKS)}")
    text = "\n".join(lines)
    assert "cites brannock-point-lighthouse.md" in text
    assert "= 7006652" in text
    # The same lines are printed for a person watching the terminal.
    assert "SELF-TEST PASSED" in proc.stdout
    # The temporary data dir is removed after a passing run.
    data_line = next(line for line in proc.stdout.splitlines() if line.startswith("Hearth self-test"))
    data_dir = Path(data_line.split("data dir ", 1)[1].rstrip(")"))
    assert not data_dir.exists()


def test_a_failing_or_crashing_check_is_reported_and_the_rest_still_run(tmp_path, capsys):
    def ok(_ctx):
        return "fine"

    def wrong(_ctx):
        raise CheckFailed("the answer cites nothing")

    def crash(_ctx):
        raise KeyError("totals")

    results = run_checks(object(), sys.stdout,
                         checks=[("first", ok), ("second", wrong), ("third", crash), ("fourth", ok)])
    assert [(r.name, r.passed) for r in results] == [
        ("first", True), ("second", False), ("third", False), ("fourth", True)]
    assert results[1].detail == "the answer cites nothing"
    assert results[2].detail == "KeyError: 'totals'"
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("PASS  first")
    assert printed[1].startswith("FAIL  second")
    assert "the answer cites nothing" in printed[1]


def test_result_line_format():
    line = CheckResult("hybrid search", False, "no hits", 1.25).line()
    assert line.startswith("FAIL  hybrid search")
    assert line.endswith("no hits  (1.2 s)")


def test_network_guard_refuses_connections_in_its_own_process():
    # A separate process: an audit hook stays for the life of a process.
    code = (
        "import socket, sys\n"
        "from desktop_app.selftest import NetworkGuard\n"
        "g = NetworkGuard(); g.install()\n"
        "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "try:\n"
        "    s.connect(('127.0.0.1', 9))\n"
        "except ConnectionRefusedError as exc:\n"
        "    print('refused:', exc)\n"
        "finally:\n"
        "    s.close()\n"
        "print('attempts:', g.attempts)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "refused: Hearth self-test: network access refused" in proc.stdout
    assert "attempts: [\"connect ('127.0.0.1', 9)\"]" in proc.stdout


@pytest.mark.parametrize("name", selftest.SAMPLE_FILES)
def test_sample_documents_are_in_resources(name):
    assert (selftest.SAMPLE_DIR / name).stat().st_size > 200
