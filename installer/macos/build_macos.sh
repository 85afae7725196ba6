#!/usr/bin/env bash
# Build Hearth for macOS: dist/Hearth.app and dist/Hearth-VERSION-macos-ARCH.dmg.
# Run on a Mac (the architecture of the Mac is the architecture of the app:
# build on Apple silicon for arm64, on an Intel Mac for x86_64).
#
#   bash installer/macos/build_macos.sh
#
# Needs: Python 3.11 (python.org installer or Homebrew), Xcode command line
# tools (clang, iconutil, hdiutil, codesign). Optional signing/notarization:
#   HEARTH_CODESIGN_IDENTITY="Developer ID Application: NAME (TEAMID)"
#   HEARTH_NOTARY_PROFILE=hearth-notary   (made once with
#       xcrun notarytool store-credentials hearth-notary --apple-id ... --team-id ...)
# Without an identity the app is ad-hoc signed: it runs on the building Mac;
# on other Macs users must right-click > Open the first time (Gatekeeper).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
say() { echo "[build_macos] $*" >&2; }

VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)"
ARCH="$(uname -m)"
APP="$ROOT/dist/Hearth.app"
DMG="$ROOT/dist/Hearth-$VERSION-macos-$ARCH.dmg"

# 1. Environment. On macOS llama-cpp-python builds with Metal; GGML_NATIVE=OFF
#    keeps the CPU code portable across Macs of the same architecture.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"
bash "$ROOT/scripts/setup.sh"
PY="${HEARTH_VENV:-$ROOT/.venv}/bin/python"
"$PY" -c "import PyInstaller" 2>/dev/null || "$PY" -m pip install --quiet -e "$ROOT[installer]"

# 2. Icon: .iconset from the SVG, then .icns (the spec picks it up).
mkdir -p "$ROOT/build/macos"
rm -rf "$ROOT/build/macos/Hearth.iconset"
"$PY" "$ROOT/installer/make_icons.py" --iconset "$ROOT/build/macos/Hearth.iconset"
iconutil -c icns "$ROOT/build/macos/Hearth.iconset" -o "$ROOT/build/macos/Hearth.icns"

# 3. Embedder exports and the .app (the spec's BUNDLE section).
"$PY" "$ROOT/installer/prebuild_embedder.py" "$ROOT/build/prebuilt-embedder"
rm -rf "$APP" "$ROOT/dist/Hearth"
HEARTH_PREBUILT_EMBEDDER="$ROOT/build/prebuilt-embedder" \
    "$PY" -m PyInstaller --noconfirm --clean --distpath "$ROOT/dist" \
    --workpath "$ROOT/build/pyinstaller" "$ROOT/installer/hearth.spec"

# 4. Signing: hardened runtime + entitlements (ctypes callbacks need
#    unsigned executable memory; bundled dylibs are not all from one team).
if [ -n "${HEARTH_CODESIGN_IDENTITY:-}" ]; then
    say "signing with $HEARTH_CODESIGN_IDENTITY"
    # Sign inside-out: every Mach-O in the bundle, then the app.
    find "$APP/Contents" -type f \( -name "*.dylib" -o -name "*.so" -o -perm -u+x \) -print0 |
        xargs -0 -n 50 codesign --force --timestamp --options runtime \
            --entitlements "$ROOT/installer/macos/entitlements.plist" -s "$HEARTH_CODESIGN_IDENTITY" 2>/dev/null || true
    codesign --force --timestamp --options runtime \
        --entitlements "$ROOT/installer/macos/entitlements.plist" -s "$HEARTH_CODESIGN_IDENTITY" "$APP"
    codesign --verify --deep --strict --verbose=2 "$APP"
else
    say "no HEARTH_CODESIGN_IDENTITY: ad-hoc signature (runs here; Gatekeeper warns elsewhere)"
    codesign --force --deep -s - "$APP"
fi

# 5. Self-test of the fresh app (offscreen, offline).
# (a windowed app may have no stdout: the lines also go to a report file)
"$APP/Contents/MacOS/Hearth" --self-test --report "$ROOT/dist/self-test-bundle.txt" || true
cat "$ROOT/dist/self-test-bundle.txt"
grep -q "^SELF-TEST PASSED" "$ROOT/dist/self-test-bundle.txt"
"$PY" "$ROOT/installer/bundle_size.py" "$APP/Contents/Frameworks" | tee "$ROOT/dist/bundle-size.txt"

# 6. The .dmg: the app and a link to /Applications to drag it onto.
STAGE="$ROOT/build/macos/dmg"
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "Hearth $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"

# 7. Notarization (needs a Developer ID signature), then staple the ticket
#    so the app opens offline without a Gatekeeper round trip.
if [ -n "${HEARTH_CODESIGN_IDENTITY:-}" ]; then
    codesign --force --timestamp -s "$HEARTH_CODESIGN_IDENTITY" "$DMG"
    if [ -n "${HEARTH_NOTARY_PROFILE:-}" ]; then
        say "notarizing (several minutes)"
        xcrun notarytool submit "$DMG" --keychain-profile "$HEARTH_NOTARY_PROFILE" --wait
        xcrun stapler staple "$DMG"
        spctl --assess --type open --context context:primary-signature --verbose "$DMG"
    fi
fi
say "done: $APP, $DMG"
