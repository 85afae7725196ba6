#!/usr/bin/env bash
# Build Hearth's Linux installers from this checkout:
#   dist/Hearth/                              the one-folder bundle (PyInstaller)
#   dist/hearth-VERSION-linux-ARCH.tar.gz     bundle + .desktop entry + icons
#   dist/hearth_VERSION_ARCH.deb              installs to /opt/hearth, menu entry, /usr/bin/hearth
# The fresh bundle must pass `Hearth --self-test` (offscreen, offline) before
# anything is packaged; the size breakdown goes to dist/bundle-size.txt.
#
#   bash installer/build_linux.sh                 # build, self-test, package
#   bash installer/build_linux.sh --test-install  # also: install the .deb here (root),
#                                                 # self-test /opt/hearth/Hearth, remove it
# Environment: HEARTH_VENV (default: build/venv-dist with a portable llama.cpp,
# see step 1), HEARTH_DEB_COMPRESSION (zstd|xz|gzip,
# default zstd), HEARTH_SKIP_PYINSTALLER=1 (package an existing dist/Hearth).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TEST_INSTALL=0
for arg in "$@"; do
    case "$arg" in
        --test-install) TEST_INSTALL=1 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

say() { echo "[build_linux] $*" >&2; }

VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' pyproject.toml | head -1)"
case "$(uname -m)" in
    x86_64) DEB_ARCH=amd64; TAR_ARCH=x86_64 ;;
    aarch64) DEB_ARCH=arm64; TAR_ARCH=aarch64 ;;
    *) DEB_ARCH="$(uname -m)"; TAR_ARCH="$(uname -m)" ;;
esac
DIST="$ROOT/dist"
BUILD="$ROOT/build"
BUNDLE="$DIST/Hearth"

# --- 1. the environment: a build venv whose llama.cpp runs on any x86-64-v3 CPU --
# pip compiles llama-cpp-python for the build machine's own CPU (GGML_NATIVE):
# a bundle made from the project venv may need AVX-512 and crash elsewhere. The
# build venv gets a wheel compiled once per machine without native flags (the
# AVX2/FMA/F16C/BMI2 baseline: Intel Haswell 2013+, AMD Zen) and kept in
# ~/.cache/hearth/portable-wheels (pip's own cache ignores CMAKE_ARGS).
# HEARTH_VENV=DIR builds from an existing venv as it is (no portable wheel).
LLAMA_VERSION="$(sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml | head -1)"
if [ -n "${HEARTH_VENV:-}" ]; then
    VENV="$HEARTH_VENV"
    bash "$ROOT/scripts/setup.sh"
else
    VENV="$BUILD/venv-dist"
    PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
    WHEELS="${XDG_CACHE_HOME:-$HOME/.cache}/hearth/portable-wheels/$LLAMA_VERSION-$(uname -m)"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the build venv $VENV"
        mkdir -p "$BUILD"
        "$(command -v python3.11 || command -v python3)" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip wheel setuptools
    fi
    WHEEL="$(ls "$WHEELS"/llama_cpp_python-*.whl 2>/dev/null | head -1 || true)"
    if [ -z "$WHEEL" ]; then
        say "compiling a portable llama-cpp-python $LLAMA_VERSION once for this machine (~15-25 min on 2 cores)"
        rm -rf "$WHEELS.part" && mkdir -p "$WHEELS.part"
        CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
            "$VENV/bin/python" -m pip wheel --quiet --no-deps --no-cache-dir --no-binary llama-cpp-python \
            "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS.part"
        rm -rf "$WHEELS" && mv "$WHEELS.part" "$WHEELS"
        WHEEL="$(ls "$WHEELS"/llama_cpp_python-*.whl | head -1)"
    fi
    if [ "$(cat "$VENV/.hearth-portable-llama" 2>/dev/null || true)" != "$WHEEL" ]; then
        # numpy etc. come with it; the project install below then finds the pin satisfied.
        "$VENV/bin/python" -m pip install --quiet --force-reinstall "$WHEEL"
        echo "$WHEEL" > "$VENV/.hearth-portable-llama"
    fi
    HEARTH_VENV="$VENV" bash "$ROOT/scripts/setup.sh"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
    say "installing the installer extra (PyInstaller)"
    "$PY" -m pip install --quiet -e "$ROOT[installer]"
fi

# --- 2. the bundle ------------------------------------------------------------
if [ "${HEARTH_SKIP_PYINSTALLER:-0}" != "1" ]; then
    mkdir -p "$BUILD"
    # Ship the embedder's ONNX int8 exports, so the app need not export (and
    # need not run torch's ONNX exporter) at first start.
    say "exporting the embedder to ONNX int8 for the bundle"
    "$PY" "$ROOT/installer/prebuild_embedder.py" "$BUILD/prebuilt-embedder"
    say "running PyInstaller (several minutes)"
    rm -rf "$BUNDLE"
    HEARTH_PREBUILT_EMBEDDER="$BUILD/prebuilt-embedder" \
        "$PY" -m PyInstaller --noconfirm --clean --log-level WARN \
        --distpath "$DIST" --workpath "$BUILD/pyinstaller" "$ROOT/installer/hearth.spec"
fi
[ -x "$BUNDLE/Hearth" ] || { say "no bundle at $BUNDLE"; exit 1; }

# Symbol tables of the few big libraries where that is safe (see bundle_filter.py).
if [ "${HEARTH_SKIP_PYINSTALLER:-0}" != "1" ]; then
    "$PY" "$ROOT/installer/bundle_filter.py" --strip "$BUNDLE"
fi

# Nothing the native code links against was cut by the exclusion list.
"$PY" "$ROOT/installer/check_libs.py" "$BUNDLE" >&2

# llama.cpp compiled with -march=native runs only on CPUs like this one.
# (count, not grep -q: with pipefail an early grep exit fails the pipeline)
AVX512_OPS="$(objdump -d "$BUNDLE/_internal/llama_cpp/lib/libggml-cpu.so" 2>/dev/null | grep -c zmm || true)"
if [ "${AVX512_OPS:-0}" -gt 0 ]; then
    say "WARNING: the bundled llama.cpp uses AVX-512 (built with GGML_NATIVE): it runs only on"
    say "         CPUs with AVX-512. Build without HEARTH_VENV for a portable bundle."
    [ -n "${HEARTH_VENV:-}" ] || exit 1
fi

# --- 3. self-test of the fresh bundle ---------------------------------------------
say "self-testing the bundle"
QT_QPA_PLATFORM=offscreen "$BUNDLE/Hearth" --self-test | tee "$DIST/self-test-bundle.txt"
grep -q "^SELF-TEST PASSED" "$DIST/self-test-bundle.txt"

# --- 4. what takes the space ---------------------------------------------------
"$PY" "$ROOT/installer/bundle_size.py" "$BUNDLE" | tee "$DIST/bundle-size.txt" >&2

# --- 5. the .tar.gz: bundle + .desktop + icons ---------------------------------
say "packing the .tar.gz"
STAGE="$BUILD/tar/hearth-$VERSION"
rm -rf "$BUILD/tar"
mkdir -p "$STAGE/icons"
cp -a "$BUNDLE" "$STAGE/Hearth"
cp "$ROOT/installer/linux/hearth.desktop" "$STAGE/hearth.desktop"
cp "$ROOT/resources/icons/hearth.svg" "$STAGE/icons/hearth.svg"
cp "$ROOT/resources/icons/hearth-256.png" "$STAGE/icons/hearth.png"
cp "$ROOT/installer/linux/install-desktop-entry.sh" "$STAGE/install-desktop-entry.sh"
chmod 755 "$STAGE/install-desktop-entry.sh"
TARBALL="$DIST/hearth-$VERSION-linux-$TAR_ARCH.tar.gz"
tar -C "$BUILD/tar" --owner=0 --group=0 -cf - "hearth-$VERSION" | gzip -6 > "$TARBALL.part"
mv "$TARBALL.part" "$TARBALL"

# --- 6. the .deb ------------------------------------------------------------------
say "building the .deb"
PKG="$BUILD/deb/hearth_${VERSION}_${DEB_ARCH}"
rm -rf "$BUILD/deb"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
         "$PKG/usr/share/icons/hicolor/scalable/apps" "$PKG/usr/share/icons/hicolor/256x256/apps"
cp -a "$BUNDLE" "$PKG/opt/hearth"
ln -s /opt/hearth/Hearth "$PKG/usr/bin/hearth"
sed 's|^Exec=.*|Exec=/opt/hearth/Hearth|; s|^TryExec=.*|TryExec=/opt/hearth/Hearth|' \
    "$ROOT/installer/linux/hearth.desktop" > "$PKG/usr/share/applications/hearth.desktop"
cp "$ROOT/resources/icons/hearth.svg" "$PKG/usr/share/icons/hicolor/scalable/apps/hearth.svg"
cp "$ROOT/resources/icons/hearth-256.png" "$PKG/usr/share/icons/hicolor/256x256/apps/hearth.png"
INSTALLED_KB="$(du -sk "$PKG" --exclude=DEBIAN | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$DEB_ARCH/" -e "s/@INSTALLED_KB@/$INSTALLED_KB/" \
    "$ROOT/installer/linux/control.in" > "$PKG/DEBIAN/control"
install -m 755 "$ROOT/installer/linux/postinst" "$PKG/DEBIAN/postinst"
install -m 755 "$ROOT/installer/linux/postrm" "$PKG/DEBIAN/postrm"
chmod -R u+rwX,go+rX,go-w "$PKG"
DEB="$DIST/hearth_${VERSION}_${DEB_ARCH}.deb"
dpkg-deb --root-owner-group -Z"${HEARTH_DEB_COMPRESSION:-zstd}" --build "$PKG" "$DEB.part" >&2
mv "$DEB.part" "$DEB"
rm -rf "$BUILD/tar" "$BUILD/deb"   # staging copies of the bundle (1.5 GB each)

ls -l "$TARBALL" "$DEB" >&2
{
    echo "tar.gz $(stat -c %s "$TARBALL") $TARBALL"
    echo "deb $(stat -c %s "$DEB") $DEB"
} >> "$DIST/bundle-size.txt"

# --- 7. optional: install the .deb here and self-test the installed app -------
if [ "$TEST_INSTALL" = "1" ]; then
    say "installing $DEB (apt-get resolves the X11/GL libraries it depends on)"
    apt-get install -y "$DEB" >&2
    trap 'say "removing the test install"; dpkg --purge hearth >&2 || true' EXIT
    test -L /usr/bin/hearth && test -f /usr/share/applications/hearth.desktop
    QT_QPA_PLATFORM=offscreen /opt/hearth/Hearth --self-test | tee "$DIST/self-test-installed.txt"
    grep -q "^SELF-TEST PASSED" "$DIST/self-test-installed.txt"
fi
say "done: $BUNDLE, $TARBALL, $DEB"
