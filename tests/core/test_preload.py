"""Preloading the jobs' lazily imported modules: everything listed imports
in this environment, a module that cannot be imported is reported (not
raised), and a cancel stops the preload."""

from __future__ import annotations

import sys

import pytest

from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.preload import JOB_MODULES, preload_job_modules


def test_every_listed_module_imports_and_is_loaded_afterwards():
    seen = []
    missing = preload_job_modules(token=CancelToken(), report=seen.append)
    assert missing == []
    assert all(name in sys.modules for name in JOB_MODULES)
    assert [p.detail for p in seen] == list(JOB_MODULES)


def test_a_module_that_cannot_be_imported_is_reported_and_the_rest_still_load():
    modules = ("desktop_app.core.no_such_module", "desktop_app.core.library.chunk")
    assert preload_job_modules(token=CancelToken(), modules=modules) == ["desktop_app.core.no_such_module"]
    assert "desktop_app.core.library.chunk" in sys.modules


def test_cancel_stops_the_preload():
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        preload_job_modules(token=token)
