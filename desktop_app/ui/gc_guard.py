"""Python's cyclic garbage collector, run on the GUI thread only.

Left to itself, the collector runs in whichever thread happens to allocate
when a generation's threshold is crossed -- in Hearth often a job's worker
thread. A cycle that holds Qt wrappers is then freed in that thread, and
PySide6 (6.12 here) crashes deleting a GUI object off the GUI thread (seen as
segfaults and "bool_dealloc" aborts with "Garbage-collecting" in a job
thread). So while a window is open the automatic collector is off and a timer
on the GUI thread collects with the same thresholds (the pattern pyqtgraph's
``GarbageCollector`` uses). Reference counting still frees everything that is
not in a cycle at once; only cycles wait for the next tick.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

_active = 0   # open guards; the automatic collector is back on when none is left


class GuiThreadCollector(QObject):
    """Owns the collector while its parent (the main window) lives."""

    def __init__(self, parent: QObject, interval_ms: int = 300) -> None:
        global _active
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._state = {"released": False}
        _active += 1
        gc.disable()
        # A parent destroyed without stop() still gives the collector back.
        state = self._state
        parent.destroyed.connect(lambda *_: _release(state))
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.collect_due)
        self._timer.start(interval_ms)

    def collect_due(self) -> int:
        """Collect the generations whose counts passed their thresholds."""
        t0, t1, t2 = self._thresholds
        c0, c1, c2 = gc.get_count()
        if c0 <= t0:
            return -1
        generation = 0
        if c1 > t1:
            generation = 2 if c2 > t2 else 1
        return gc.collect(generation)

    def stop(self) -> None:
        """Give the collector back (idempotent), after one last collection here."""
        if self._state["released"]:
            return
        self._timer.stop()
        gc.collect()
        _release(self._state)


def _release(state: dict) -> None:
    global _active
    if state["released"]:
        return
    state["released"] = True
    _active = max(0, _active - 1)
    if _active == 0:
        gc.enable()
