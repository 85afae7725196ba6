"""Export the packaged embedder to ONNX int8 for the bundle.

The app's default embedder backend (``onnx-int8``) exports the model once per
machine, picking the int8 config that matches the CPU. The bundle ships those
exports for every config of the target architecture, laid out as
``DIR/<model>-onnx-qint8-<config>/`` (what ``embed.py`` looks for under
``resources/embedder/``), without the fp32 ``model.onnx`` the export leaves
behind (90 MB each, not loaded). So a fresh install starts without running
torch's ONNX exporter.

    python installer/prebuild_embedder.py build/prebuilt-embedder
"""

from __future__ import annotations

import argparse
import logging
import platform
import sys
from pathlib import Path

X86_CONFIGS = ("avx2", "avx512", "avx512_vnni")
ARM_CONFIGS = ("arm64",)


def configs_for(machine: str) -> tuple[str, ...]:
    machine = machine.lower()
    if machine in ("arm64", "aarch64"):
        return ARM_CONFIGS
    return X86_CONFIGS


def prebuild(out_dir: Path, configs: tuple[str, ...]) -> list[Path]:
    from desktop_app.core.defaults import default_embedder_dir
    from desktop_app.core.library import embed

    model_dir = default_embedder_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for config in configs:
        target = out_dir / f"{model_dir.name}-onnx-qint8-{config}"
        wanted = target / embed._onnx_file_name(config)
        if not wanted.exists():
            embed._export_onnx_int8(model_dir, target, config)
        fp32 = target / "onnx" / "model.onnx"
        if fp32.exists():
            fp32.unlink()
        readme = target / "README.md"
        if readme.exists():
            readme.unlink()
        made.append(target)
        print(f"{target.name}: {wanted.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--machine", default=platform.machine(),
                        help="target CPU architecture (default: this machine's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    prebuild(args.out_dir, configs_for(args.machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
