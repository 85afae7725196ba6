"""A damaged library database at startup: moved aside, the user is told,
and the saved folders are indexed again in the real window."""

from __future__ import annotations

import sys
from pathlib import Path

from desktop_app.app import offer_rebuild
from desktop_app.core.library.database import check_database
from desktop_app.core.library.library import Library

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core" / "library"))
from library_corpus import write_facts  # noqa: E402


def test_damaged_database_at_startup_is_set_aside_and_rebuilt_from_the_window(
        qtbot, services, embedder, make_window, tmp_path):
    docs = tmp_path / "docs"
    write_facts(docs)
    lib = Library(services.paths.library_dir, embedder_factory=lambda: embedder)
    lib.add([docs])
    lib.close()
    db_path = services.paths.library_dir / "library.sqlite3"
    db_path.write_bytes(b"garbage, not SQLite " * 200)

    damage = check_database(db_path)          # what build_gui runs at startup
    assert damage is not None and damage.folders == [str(docs)]
    assert damage.moved_to.read_bytes().startswith(b"garbage")
    window = make_window()
    told: list[str] = []
    job = offer_rebuild(window, damage, ask=lambda text: told.append(text) or True)
    assert told and "damaged" in told[0] and "Hearth can index your 1 folder again" in told[0]
    with qtbot.waitSignal(job.finished, timeout=240000):
        pass
    status = services.library.status()
    assert status["totals"]["files"] == 3 and [f["path"] for f in status["folders"]] == [str(docs)]
    assert services.library.search("Titan nitrogen atmosphere", k=1)[0].path.endswith("saturn.md")
