"""`python -m desktop_app` opens the window; `python -m desktop_app <command>`
runs the command line over the same core."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from desktop_app.cli import wants_gui

    if wants_gui(argv):
        from desktop_app.app import run_gui

        code = run_gui(argv)
        # Everything is saved and the jobs are stopped (run_gui's shutdown).
        # Leave without the interpreter's teardown: garbage-collecting the Qt
        # wrappers at finalization intermittently aborts in a C extension
        # ("Fatal Python error: bool_dealloc", seen on quit with PySide6
        # 6.12), which would end a clean quit with a core dump.
        import logging
        import os

        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    from desktop_app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
