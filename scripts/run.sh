#!/usr/bin/env bash
# Set up (if needed) and launch Hearth on its default model.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
PYTHON="${HEARTH_VENV:-$ROOT/.venv}/bin/python"
# Opening the window on Linux/X11 (a display, and Qt's platform left to xcb):
# check the system libraries Qt's xcb plugin needs before Qt starts; as root
# they are installed, otherwise the exact apt command is printed.
case "${QT_QPA_PLATFORM:-xcb}" in *xcb*) uses_xcb=1 ;; *) uses_xcb=0 ;; esac
if [ "$(uname -s)" = Linux ] && [ -n "${DISPLAY:-}" ] && [ "$uses_xcb" = 1 ] \
        && { [ $# -eq 0 ] || [ "$1" = gui ] || [ "${1#-}" != "$1" ]; }; then
    "$PYTHON" "$ROOT/scripts/check_qt_libs.py" || exit 1
fi
exec "$PYTHON" -m desktop_app "$@"
