"""Before Qt starts on Linux/X11: are the system libraries its xcb platform
plugin needs installed? (A stock Ubuntu desktop lacks libxcb-cursor0, and Qt
then stops with "could not load the Qt platform plugin xcb".)

The plugin itself is asked: ``ldd libqxcb.so`` lists every library it needs,
directly or through Qt's own libraries, and marks the absent ones
"not found". Missing ones are mapped to Debian/Ubuntu package names; as root
they are installed with apt-get, otherwise the exact command is printed.

    python scripts/check_qt_libs.py [--plugin PATH]

Exit status 0: nothing missing (or installed now); 1: still missing (the
command to run was printed). Does not import Qt.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

# Debian names a library package after its soname (libfoo.so.1 -> libfoo1,
# libfoo-x11.so.0 -> libfoo-x11-0, lowercase); these are the exceptions.
_PACKAGE_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libOpenGL.so.0": "libopengl0",
}
_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found", re.MULTILINE)


def xcb_plugin() -> Optional[Path]:
    """PySide6's libqxcb.so, found without importing Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """Sonames the plugin needs that the dynamic linker cannot find."""
    env = dict(os.environ)
    qt_lib = plugin.parents[2] / "lib"  # PySide6/Qt/lib: Qt's own libraries are not missing
    env["LD_LIBRARY_PATH"] = str(qt_lib) + (os.pathsep + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, env=env, check=False).stdout
    return sorted(set(_NOT_FOUND.findall(out)))


def debian_package(soname: str) -> str:
    if soname in _PACKAGE_EXCEPTIONS:
        return _PACKAGE_EXCEPTIONS[soname]
    match = re.match(r"^(lib.+?)\.so\.(\d+)", soname)
    if not match:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plugin", type=Path, help="the xcb plugin to check (default: PySide6's)")
    args = parser.parse_args(argv)
    if not shutil.which("ldd"):
        return 0  # cannot tell; let Qt try
    plugin = args.plugin or xcb_plugin()
    if plugin is None:
        return 0
    missing = missing_libraries(plugin)
    if not missing:
        return 0
    packages = sorted({debian_package(lib) for lib in missing})
    command = "apt-get install -y --no-install-recommends " + " ".join(packages)
    print(f"[run] Qt's X11 plugin needs libraries that are not installed: {', '.join(missing)}", file=sys.stderr)
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"[run] installing: {' '.join(packages)}", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
        done = subprocess.run(command.split(), env=env, check=False).returncode == 0
        if done and not missing_libraries(plugin):
            return 0
        print(f"[run] could not install them; try: {command}", file=sys.stderr)
        return 1
    print(f"[run] install them with:\n    sudo {command}\nthen run this again.", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
