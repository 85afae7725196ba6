#!/bin/sh
# Add Hearth to your desktop's application menu (for your user only), from
# wherever this archive was unpacked. Run it again after moving the folder.
# Remove: rm ~/.local/share/applications/hearth.desktop
#         ~/.local/share/icons/hicolor/*/apps/hearth.*
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
mkdir -p "$DATA/applications" "$DATA/icons/hicolor/scalable/apps" "$DATA/icons/hicolor/256x256/apps"
cp "$HERE/icons/hearth.svg" "$DATA/icons/hicolor/scalable/apps/hearth.svg"
cp "$HERE/icons/hearth.png" "$DATA/icons/hicolor/256x256/apps/hearth.png"
sed "s|^Exec=.*|Exec=\"$HERE/Hearth/Hearth\"|; s|^TryExec=.*|TryExec=$HERE/Hearth/Hearth|" \
    "$HERE/hearth.desktop" > "$DATA/applications/hearth.desktop"
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$DATA/applications" || true
echo "Hearth added to the application menu ($DATA/applications/hearth.desktop)"
