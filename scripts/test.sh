#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
# Real documents written by others that the parsing tests read (Debian's doc
# packages) and mutool to encrypt a real PDF. Best effort: without them those
# tests skip and say why.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    missing=""
    [ -f /usr/share/doc/python3.11/html/library/shutil.html ] || missing="$missing python3.11-doc"
    [ -f /usr/share/doc/texlive-doc/latex/url/url.pdf ] || missing="$missing texlive-latex-base-doc"
    command -v mutool >/dev/null 2>&1 || missing="$missing mupdf-tools"
    if [ -n "$missing" ]; then
        echo "[test] installing test documents:$missing" >&2
        (timeout 900 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 \
            apt-get install -y -qq --no-install-recommends $missing) >/dev/null 2>&1 \
            || echo "[test] could not install$missing; the tests that need them will skip" >&2
    fi
fi
cd "$ROOT"
export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "${HEARTH_VENV:-$ROOT/.venv}/bin/python" -m pytest -q -p no:cacheprovider "$@"
