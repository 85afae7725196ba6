"""`python -m desktop_app` opens the window; `python -m desktop_app <command>`
runs the command line over the same core."""

from __future__ import annotations

import sys


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from desktop_app.cli import wants_gui

    if wants_gui(argv):
        from desktop_app.app import run_gui

        return run_gui(argv)
    from desktop_app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
