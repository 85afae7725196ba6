"""Shared libraries the bundle's native code needs but the bundle lacks.

A library is fine if it is in the bundle (next to the one that needs it, on
its RUNPATH, or in ``_internal/``) or is a base system library the .deb
depends on (X11/xcb, GL, fontconfig, glib, GTK for the optional GTK theme).
Anything else missing means the exclusion list cut too much: the build fails.

    python installer/check_libs.py dist/Hearth
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

# Provided by the target system (declared in the .deb's Depends, or optional).
SYSTEM_LIBS = [
    "libc.so.*", "libm.so.*", "libdl.so.*", "libpthread.so.*", "librt.so.*", "libutil.so.*",
    "ld-linux*", "linux-vdso*", "libGL*.so*", "libEGL.so*", "libOpenGL.so*", "libGLX*.so*",
    "libgbm.so*", "libdrm.so*", "libvulkan.so*", "libwayland-*.so*",
    "libX*.so*", "libxcb*.so*", "libxkbcommon*.so*", "libfontconfig.so*", "libfreetype.so*",
    "libglib-2.0.so*", "libgobject-2.0.so*", "libgio-2.0.so*", "libgthread-2.0.so*",
    "libgtk-3.so*", "libgdk-3.so*", "libpango*.so*", "libatk*.so*", "libcairo*.so*",
    "libgdk_pixbuf*.so*", "libharfbuzz*.so*", "libdbus-1.so*", "libasound.so*", "libpulse*.so*",
    "libcuda.so*", "libnvidia*",  # only loaded when present; Hearth is CPU-only
]


def elf_files(root: Path):
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_symlink() or not (".so" in name or os.access(path, os.X_OK)):
                continue
            with open(path, "rb") as handle:
                if handle.read(4) == b"\x7fELF":
                    yield path


def missing_libraries(bundle: Path) -> dict[str, list[str]]:
    """{missing library name: [bundle files that need it]}"""
    bundle = Path(bundle)
    internal = bundle / "_internal"
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal if internal.is_dir() else bundle))
    missing: dict[str, list[str]] = {}
    for path in elf_files(bundle):
        proc = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env)
        for line in proc.stdout.splitlines():
            match = re.match(r"\s*(\S+) => not found", line)
            if match and not any(fnmatchcase(match.group(1), p) for p in SYSTEM_LIBS):
                missing.setdefault(match.group(1), []).append(str(path.relative_to(bundle)))
    return missing


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    missing = missing_libraries(Path(argv[0]))
    for name, users in sorted(missing.items()):
        print(f"MISSING {name}: needed by {', '.join(users[:3])}{' ...' if len(users) > 3 else ''}")
    if not missing:
        print("every shared library the bundle needs is in it or a declared system library")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
