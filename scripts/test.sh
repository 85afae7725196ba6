#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "${HEARTH_VENV:-$ROOT/.venv}/bin/python" -m pytest -q -p no:cacheprovider "$@"
