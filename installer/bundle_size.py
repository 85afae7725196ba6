"""What takes the space in a built bundle: total, per top-level folder of the
bundle's ``_internal`` (Python packages, Qt, models), and the biggest files.

    python installer/bundle_size.py dist/Hearth
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SizeReport:
    total: int
    files: int
    by_top: list[tuple[str, int]]       # (name, bytes), biggest first
    biggest: list[tuple[str, int]]      # (relative path, bytes), biggest first


def _file_size(path: Path) -> int:
    # Symlinks inside the bundle (versioned .so names) cost nothing.
    return 0 if path.is_symlink() else path.stat().st_size


def measure(bundle: Path, top_n: int = 20) -> SizeReport:
    bundle = Path(bundle)
    inner = bundle / "_internal"
    base = inner if inner.is_dir() else bundle
    by_top: dict[str, int] = {}
    sizes: list[tuple[str, int]] = []
    total = 0
    count = 0
    for dirpath, _dirnames, filenames in os.walk(bundle):
        for name in filenames:
            path = Path(dirpath) / name
            size = _file_size(path)
            total += size
            count += 1
            rel = path.relative_to(bundle)
            sizes.append((rel.as_posix(), size))
            try:
                parts = path.relative_to(base).parts
            except ValueError:  # the executable next to _internal
                parts = rel.parts
            top = parts[0] if len(parts) > 1 else "(loose files: executable, libpython, ...)"
            by_top[top] = by_top.get(top, 0) + size
    sizes.sort(key=lambda item: -item[1])
    return SizeReport(total=total, files=count,
                      by_top=sorted(by_top.items(), key=lambda item: -item[1]),
                      biggest=sizes[:top_n])


def _mb(size: int) -> str:
    return f"{size / 1e6:9.1f} MB"


def format_report(report: SizeReport, top_dirs: int = 25) -> str:
    lines = [f"bundle: {_mb(report.total)} in {report.files} files", "", "by top-level entry:"]
    for name, size in report.by_top[:top_dirs]:
        lines.append(f"  {_mb(size)}  {100 * size / max(report.total, 1):5.1f} %  {name}")
    rest = report.by_top[top_dirs:]
    if rest:
        lines.append(f"  {_mb(sum(s for _, s in rest))}          ({len(rest)} smaller entries)")
    lines += ["", "biggest files:"]
    lines += [f"  {_mb(size)}  {path}" for path, size in report.biggest]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: bundle_size.py BUNDLE_DIR", file=sys.stderr)
        return 2
    print(format_report(measure(Path(argv[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
