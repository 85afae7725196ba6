"""Real files for the library tests (imported by conftest and tests)."""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path


STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Small real source files (Python's own standard library), present wherever
# Python is: a corpus of a few dozen passages that embeds in seconds.
TINY_MODULES = ("bisect", "colorsys", "fnmatch", "keyword", "reprlib", "this", "token", "tty")
SMALL_MODULES = ("bisect", "colorsys", "keyword", "stat", "fnmatch", "this", "linecache",
                 "reprlib", "token", "tty", "abc", "sched", "getopt", "uu", "copy", "glob")

# Questions about SMALL_MODULES (the ``stdlib_library`` fixture), in other
# words than the sources' own, plus a few of their names.
STDLIB_QUERIES = [
    "insert an item into a sorted list", "convert RGB colour to HSV", "is this word a Python keyword",
    "file mode bits and permissions", "match file names against shell patterns", "the Zen of Python",
    "read a line of a source file by number", "shallow and deep copy of objects",
    "parse command line options", "event scheduler that runs at a given time", "abstract base class",
    "find path names matching a pattern", "terminal raw mode", "repr with size limits",
    "token numbers", "uuencode", "import this", "hsv_to_rgb", "bisect_left insort",
]

FACTS = {
    "volcanoes.md": "# Volcanoes\n\n## Mount Erebus\n\nMount Erebus is the southernmost active volcano on "
                    "Earth. It stands on Ross Island in Antarctica and has held a persistent lava lake "
                    "since at least 1972.\n\n## Kilauea\n\nKilauea on the island of Hawaii is a shield "
                    "volcano whose eruptions feed lava flows that reach the sea.\n",
    "kitchen/sourdough.txt": "Sourdough bread rises thanks to a starter culture of wild yeast and lactic "
                             "acid bacteria. Feed the starter with flour and water every day; it is ready "
                             "when it doubles in size within six hours.\n\nThe oven should be preheated to "
                             "250 degrees Celsius with a Dutch oven inside.\n",
    "space/saturn.md": "# Saturn\n\nSaturn's largest moon, Titan, is wrapped in a thick nitrogen "
                       "atmosphere, denser than the air on Earth. Methane rain falls into its lakes.\n\n"
                       "The part number of the probe's heat shield was XR-7731.\n",
}


def write_facts(root: Path) -> dict[str, Path]:
    out = {}
    for rel, text in FACTS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out[rel] = path
    return out


def copy_modules(root: Path, names=SMALL_MODULES) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        target = root / f"{name}.py"
        shutil.copyfile(STDLIB / f"{name}.py", target)
        out.append(target)
    return out


def expected_chunks(files, embedder, settings) -> int:
    """How many chunks a clean ingest makes of ``files`` (parse + chunk only)."""
    from desktop_app.core.library.chunk import chunk_blocks
    from desktop_app.core.library.parse import parse_file

    return sum(sum(1 for _ in chunk_blocks(parse_file(f), embedder.count_tokens, settings.chunk_tokens,
                                           settings.chunk_overlap)) for f in files)
