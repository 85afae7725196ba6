"""Children die with their parent, even when the parent is gone before the
child got going (the race a watcher that reads getppid() at start loses)."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from desktop_app.core.childproc import child_env

_CHILD = ("import time; from desktop_app.core.childproc import die_with_parent; die_with_parent(); "
          "time.sleep(60)")
# The parent starts the child with Hearth's environment, prints its pid and
# is gone at once (as after a kill -9), long before the child's Python runs.
_PARENT = ("import os, subprocess, sys; from desktop_app.core.childproc import child_env; "
           f"p = subprocess.Popen([sys.executable, '-c', {_CHILD!r}], env=child_env()); "
           "print(p.pid, flush=True); os._exit(0)")


def test_a_child_whose_parent_is_already_gone_ends_itself():
    out = subprocess.run([sys.executable, "-c", _PARENT], capture_output=True, text=True, env=child_env(),
                         timeout=60)
    pid = int(out.stdout.strip())
    deadline = time.monotonic() + 20
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    alive = psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    if alive:
        psutil.Process(pid).kill()
    assert not alive, "the child outlived its parent"
