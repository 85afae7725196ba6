"""The library table tells the user when a folder is unavailable (an
unplugged drive) instead of silently showing an index that looks current."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop_app.core.jobs import CancelToken
from desktop_app.core.library.library import Library
from desktop_app.core.settings import Settings
from desktop_app.ui.qtmodels.sources import SourcesModel


def test_an_unplugged_folder_shows_as_unavailable_with_its_index_kept(qtbot, tmp_path, embedder):
    folder = tmp_path / "usb-drive"
    folder.mkdir()
    (folder / "minutes.md").write_text("# Board minutes\n\nThe board approved the new budget of 42,000 euros.\n")
    lib = Library(tmp_path / "lib", embedder_factory=lambda: embedder, settings=Settings())
    try:
        lib.add([folder], token=CancelToken())
        model = SourcesModel()
        model.set_status(lib.status())
        assert model.data(model.index(0, 3)) != "Unavailable (index kept)"

        folder.rename(tmp_path / "elsewhere")          # the drive is unplugged
        lib.refresh(CancelToken(), lambda p: None)
        model.set_status(lib.status())
        assert model.data(model.index(0, 1)) == "1"    # the index of its file is kept
        assert model.data(model.index(0, 3)) == "Unavailable (index kept)"
        assert "not there" in model.data(model.index(0, 3), Qt.ToolTipRole)
    finally:
        lib.close()
