"""scripts/run.sh's check of the libraries Qt's xcb plugin needs, on real
shared objects: this machine's real PySide6 plugin, and a plugin built here
that needs a library no system has (what a fresh Ubuntu without
libxcb-cursor0 looks like to the check)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_qt_libs.py"
sys.path.insert(0, str(SCRIPT.parent))
import check_qt_libs  # noqa: E402


@pytest.fixture
def plugin_missing_a_library(tmp_path) -> Path:
    """A shared object that needs libxcb-hearthtest.so.0, which is then removed."""
    if not shutil.which("gcc"):
        pytest.skip("needs gcc to build a shared object")
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    (tmp_path / "dep.c").write_text("int hearth_dep(void) { return 1; }\n")
    (tmp_path / "plugin.c").write_text("int hearth_dep(void);\nint plugin(void) { return hearth_dep(); }\n")
    dep = lib_dir / "libxcb-hearthtest.so.0"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(dep), "-Wl,-soname,libxcb-hearthtest.so.0",
                    str(tmp_path / "dep.c")], check=True)
    plugin = tmp_path / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    plugin.parent.mkdir(parents=True)
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"),
                    f"-L{lib_dir}", "-lxcb-hearthtest"], check=False)
    if not plugin.exists():  # the linker wants the unversioned name
        (lib_dir / "libxcb-hearthtest.so").symlink_to(dep.name)
        subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(plugin), str(tmp_path / "plugin.c"),
                        f"-L{lib_dir}", "-lxcb-hearthtest"], check=True)
    shutil.rmtree(lib_dir)
    return plugin


def test_the_installed_qt_plugin_is_complete_here():
    plugin = check_qt_libs.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    assert check_qt_libs.missing_libraries(plugin) == []
    assert check_qt_libs.main([]) == 0


def test_debian_package_names_follow_the_soname():
    assert check_qt_libs.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert check_qt_libs.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert check_qt_libs.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert check_qt_libs.debian_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert check_qt_libs.debian_package("libglib-2.0.so.0") == "libglib2.0-0"


def test_a_missing_library_is_found_and_the_exact_command_printed(plugin_missing_a_library):
    assert check_qt_libs.missing_libraries(plugin_missing_a_library) == ["libxcb-hearthtest.so.0"]
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0 and not setpriv:
        pytest.skip("needs setpriv to run the check as a normal user")
    drop = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
    # A folder the normal user can read (pytest's tmp dirs are root-only).
    shared = Path(tempfile.mkdtemp(prefix="hearth-qxcb-"))
    try:
        os.chmod(shared, 0o755)
        plugin = shared / "libqxcb.so"
        shutil.copyfile(plugin_missing_a_library, plugin)
        os.chmod(plugin, 0o755)
        result = subprocess.run([*drop, sys.executable, str(SCRIPT), "--plugin", str(plugin)],
                                capture_output=True, text=True)
    finally:
        shutil.rmtree(shared)
    assert result.returncode == 1, result.stderr
    assert "libxcb-hearthtest.so.0" in result.stderr
    assert "sudo apt-get install -y --no-install-recommends libxcb-hearthtest0" in result.stderr


def test_run_sh_checks_before_starting_qt_only_with_an_x11_display():
    text = (ROOT / "scripts" / "run.sh").read_text()
    check = text.index("check_qt_libs.py")
    assert check < text.index("exec "), "the check must run before Qt starts"
    assert '-n "${DISPLAY:-}"' in text and "xcb" in text
