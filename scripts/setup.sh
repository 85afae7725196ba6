#!/usr/bin/env bash
# Create or refresh the project's virtualenv (.venv). Idempotent and quick
# when nothing changed: it reinstalls only when pyproject.toml changes.
# llama-cpp-python is compiled from source (about 10 minutes on 2 cores) the
# first time on a machine; pip's wheel cache keeps the result for every later
# venv on that machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${HEARTH_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating virtualenv in $VENV" >&2
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel setuptools
fi

STAMP="$VENV/.hearth-installed"
WANT="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "[setup] installing Hearth and its dependencies (first time on a machine: ~15 min, compiles llama.cpp)" >&2
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}"
    "$VENV/bin/python" -m pip install --quiet -e "$ROOT[test]"
    echo "$WANT" > "$STAMP"
fi
