#!/usr/bin/env bash
# Set up (if needed) and launch Hearth on its default model.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
exec "${HEARTH_VENV:-$ROOT/.venv}/bin/python" -m desktop_app "$@"
