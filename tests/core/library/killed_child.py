"""A child process killed with SIGKILL at a point it announces (the kill -9
tests of the library: what a crash mid-write leaves behind)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

# Gives the child's script ``library_dir`` and the session's ``embedder``
# (loaded from its cache, not made again).
_PRELUDE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from desktop_app.core.library.embed import load_embedder
    library_dir = Path(sys.argv[1])
    embedder = load_embedder(sys.argv[3], cache_dir=Path(sys.argv[2]))
""")


def kill_9_once_it_prints(ready: str, script: str, library_dir: Path, embedder) -> None:
    """Run ``script`` (after the prelude above) in a child Python on this
    checkout; once its first line of output starts with ``ready``, kill -9
    it. It is killed and reaped whatever happens."""
    child = subprocess.Popen([sys.executable, "-c", _PRELUDE + textwrap.dedent(script), str(library_dir),
                              str(embedder.source_dir.parent), embedder.backend],
                             cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        line = child.stdout.readline()
        assert line.startswith(ready), line
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
