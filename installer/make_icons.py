"""Platform icons from the app icon (resources/icons/hearth.svg).

    python installer/make_icons.py --ico installer/windows/hearth.ico
    python installer/make_icons.py --iconset build/macos/Hearth.iconset   # then: iconutil -c icns

The Windows .ico holds PNG-compressed images at the sizes Explorer and the
taskbar ask for (readable since Windows Vista). The macOS .iconset is the
folder layout ``iconutil`` turns into an .icns. Rendering uses Qt's SVG
renderer (already a dependency); writing the ICO container is done here
because Qt's ICO writer stores a single size only.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "hearth.svg"
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)
ICONSET = [(16, 1), (16, 2), (32, 1), (32, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 2)]


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO container of PNG images: ICONDIR, one ICONDIRENTRY per size, data."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = [], []
    for size in sizes:
        png = pngs[size]
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries.append(struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(png), offset))
        blobs.append(png)
        offset += len(png)
    return header + b"".join(entries) + b"".join(blobs)


def read_ico_sizes(data: bytes) -> list[int]:
    """The image sizes an ICO file declares (its entries point at PNGs)."""
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    if reserved != 0 or kind != 1:
        raise ValueError("not an ICO file")
    sizes = []
    for i in range(count):
        width, _h, _c, _r, _planes, _bpp, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        if data[offset:offset + 8] != b"\x89PNG\r\n\x1a\n" or offset + length > len(data):
            raise ValueError(f"entry {i} is not a complete PNG")
        sizes.append(width or 256)
    return sizes


def write_ico(svg: Path, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(ico_bytes({size: render_png(svg, size) for size in ICO_SIZES}))


def write_iconset(svg: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for size, scale in ICONSET:
        name = f"icon_{size}x{size}{'@2x' if scale == 2 else ''}.png"
        (folder / name).write_bytes(render_png(svg, size * scale))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="platform icons from the app's SVG icon")
    parser.add_argument("--svg", type=Path, default=SVG)
    parser.add_argument("--ico", type=Path, help="write a Windows .ico here")
    parser.add_argument("--iconset", type=Path, help="write a macOS .iconset folder here")
    args = parser.parse_args(argv)
    if not (args.ico or args.iconset):
        parser.error("give --ico and/or --iconset")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # noqa: F841 - fonts/painting need it
    if args.ico:
        write_ico(args.svg, args.ico)
    if args.iconset:
        write_iconset(args.svg, args.iconset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
