"""While a window is open, cyclic garbage is collected on the GUI thread only
(a cycle holding Qt wrappers freed in a job's thread crashed PySide6)."""

from __future__ import annotations

import gc
import threading

from PySide6.QtWidgets import QWidget

from desktop_app.ui.gc_guard import GuiThreadCollector


class _Cycle:
    freed_in: list = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_in.append(threading.current_thread().name)


N = 2 * gc.get_threshold()[0]


def _make_garbage_in_thread() -> None:
    def work():
        # More cyclic garbage than generation 0's threshold: the automatic
        # collector would have run in this thread.
        for _ in range(N):
            _Cycle()

    t = threading.Thread(target=work, name="job-thread")
    t.start()
    t.join()


def test_cycles_made_in_a_thread_are_freed_on_the_gui_thread(qtbot):
    gc.collect()
    assert gc.isenabled()
    owner = QWidget()
    qtbot.addWidget(owner)
    guard = GuiThreadCollector(owner, interval_ms=20)
    try:
        assert not gc.isenabled()
        _Cycle.freed_in.clear()
        _make_garbage_in_thread()
        assert _Cycle.freed_in == []          # nothing collected in the job thread
        qtbot.waitUntil(lambda: len(_Cycle.freed_in) == N, timeout=5000)
        assert set(_Cycle.freed_in) == {threading.main_thread().name}
    finally:
        guard.stop()
    assert gc.isenabled()


def test_collector_comes_back_when_the_owner_goes_without_stop(qtbot):
    owner = QWidget()
    GuiThreadCollector(owner)
    assert not gc.isenabled()
    owner.deleteLater()
    qtbot.waitUntil(gc.isenabled, timeout=5000)


def test_window_gives_the_collector_back_at_shutdown(make_window):
    window = make_window(autoload_model=False)
    assert not gc.isenabled()
    window.shutdown()
    assert gc.isenabled()
