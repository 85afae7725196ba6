"""Name what blocks the GUI thread during ui_stall's stalls, from outside.

    HEARTH_TICK_FILE=/tmp/tick HEARTH_STALL_LOG=/tmp/stalls.log \\
        .venv/bin/python bench/ui_stall.py & \\
    .venv/bin/python bench/stall_watch.py --pid $! --tick-file /tmp/tick --stall-log /tmp/stalls.log

The in-process tracer (ui_stall --trace) cannot sample while another thread
holds the GIL: it needs the GIL itself. This watcher runs in its own process:
it polls the probe's last-tick time (shared through HEARTH_TICK_FILE) and,
when the GUI thread has not ticked for --after ms, takes a non-blocking
``py-spy dump``, which marks the thread holding the GIL ("active+gil").
At the end it prints the dumps taken during the stalls the bench logged
(HEARTH_STALL_LOG) longer than --report ms. Needs py-spy (a dev tool:
``.venv/bin/pip install py-spy``).
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--tick-file", type=Path, required=True)
    parser.add_argument("--stall-log", type=Path, required=True)
    parser.add_argument("--after", type=float, default=35.0, help="dump once stalled this long (ms)")
    parser.add_argument("--report", type=float, default=80.0, help="report stalls longer than this (ms)")
    parser.add_argument("--native", action="store_true",
                        help="include native frames (shows whether the GUI thread waits for the GIL or a Qt lock)")
    parser.add_argument("--all", action="store_true", help="also report the startup's stalls")
    args = parser.parse_args()
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("py-spy not found", file=sys.stderr)
        return 1
    dumps: list[tuple[float, float, str]] = []   # (wall time, stalled ms, dump)
    while not args.tick_file.exists():
        time.sleep(0.05)
    with open(args.tick_file, "rb") as f:
        ticks = mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ)
    while True:
        try:
            os.kill(args.pid, 0)
        except ProcessLookupError:
            break
        last = struct.unpack("d", ticks[:8])[0]
        stalled = (time.time() - last) * 1000
        if last and stalled > args.after:
            at = time.time()
            # Native stacks need the process paused (slower, and the pause
            # lengthens the stall it looks at).
            command = [spy, "dump", "--pid", str(args.pid)] + (["--native"] if args.native else ["--nonblocking"])
            out = subprocess.run(command,
                                 capture_output=True, text=True).stdout
            dumps.append((at, stalled, out))
        else:
            time.sleep(0.005)
    stalls, phases = [], 0
    for line in args.stall_log.read_text().splitlines():
        end, what = line.split()
        if what == "start":
            phases += 1   # 1 startup, 2 idle baseline, 3 the jobs
        elif float(what) > args.report and (args.all or phases >= 3):
            stalls.append((float(end) - float(what) / 1000, float(end), float(what)))
    for begin, end, gap in stalls:
        print(f"=== stall {gap:.0f} ms")
        for at, stalled, out in dumps:
            if begin <= at <= end:
                print(f"--- dump {stalled:.0f} ms into it:")
                print(summarise(out))
    return 0


def summarise(dump: str) -> str:
    """Keep each thread's header and its top frames; mark the GIL holder."""
    lines, keep = [], 0
    for line in dump.splitlines():
        if line.startswith("Thread "):
            holder = "gil" in line
            lines.append(("  >>> " if holder else "      ") + line)
            keep = 30 if holder or "MainThread" in line else 5
        elif keep and line.startswith("    "):
            lines.append("      " + line)
            keep -= 1
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
