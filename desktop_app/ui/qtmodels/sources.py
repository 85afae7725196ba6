"""The library's folders as a table. Changed only in the GUI thread, from the
dict that ``Library.status()`` returns on a worker."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Optional

from PySide6.QtCore import Qt

from desktop_app.ui.qtmodels.table import ColumnsTableModel


def _first(folder: dict, *names, default=None):
    for name in names:
        if name in folder and folder[name] is not None:
            return folder[name]
    return default


def failures_of(folder: dict) -> list[tuple[str, str]]:
    """[(file, reason)] whatever shape the status uses for failures."""
    raw = _first(folder, "failures", "failed", default=[])
    out = []
    if isinstance(raw, dict):
        raw = [{"path": k, "reason": v} for k, v in raw.items()]
    for item in raw or []:
        if isinstance(item, dict):
            out.append((str(item.get("path", "")), str(item.get("reason", item.get("error", "")))))
        elif isinstance(item, (list, tuple)) and len(item) >= 2:
            out.append((str(item[0]), str(item[1])))
        else:
            out.append((str(item), ""))
    return out


def format_when(value: Any) -> str:
    if value in (None, "", 0):
        return "never"
    try:
        if isinstance(value, (int, float)):
            when = dt.datetime.fromtimestamp(float(value))
        else:
            when = dt.datetime.fromisoformat(str(value))
            if when.tzinfo is not None:
                when = when.astimezone().replace(tzinfo=None)
    except (ValueError, OSError, OverflowError):
        return str(value)
    today = dt.datetime.now().date()
    if when.date() == today:
        return f"today {when:%H:%M}"
    if when.date() == today - dt.timedelta(days=1):
        return f"yesterday {when:%H:%M}"
    return f"{when:%Y-%m-%d %H:%M}"


def is_incomplete(folder: dict) -> bool:
    """Indexing of this folder stopped part-way (quit, crash, cancel): it
    never completed, or files were left mid-way."""
    if folder.get("available") is False:
        return False
    return not folder.get("last_update") or int(folder.get("indexing") or 0) > 0


class SourcesModel(ColumnsTableModel):
    COLUMNS = ("Folder", "Files", "Passages", "Last update", "Problems")
    ROWS_ATTRIBUTE = "folders"
    PathRole = Qt.UserRole + 1

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.folders: list[dict] = []
        self.indexing: dict[str, str] = {}   # folder path -> short status while a job runs

    def set_status(self, status: dict) -> None:
        self.beginResetModel()
        self.folders = list(status.get("folders", []))
        self.endResetModel()

    def set_indexing(self, paths: list[str], text: Optional[str]) -> None:
        for path in paths:
            if text is None:
                self.indexing.pop(path, None)
            else:
                self.indexing[path] = text
        if self.folders:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.folders) - 1,
                                                               len(self.COLUMNS) - 1))

    def folder_path(self, row: int) -> str:
        return str(_first(self.folders[row], "path", "folder", default=""))

    def failures(self, row: int) -> list[tuple[str, str]]:
        return failures_of(self.folders[row])

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        folder = self.folders[index.row()]
        path = self.folder_path(index.row())
        column = index.column()
        failures = failures_of(folder)
        if role == self.PathRole:
            return path
        if role == Qt.DisplayRole:
            if column == 0:
                return Path(path).name or path
            if column == 1:
                return str(_first(folder, "files", "file_count", default=0))
            if column == 2:
                return str(_first(folder, "chunks", "chunk_count", default=0))
            if column == 3:
                if path in self.indexing:
                    return self.indexing[path]
                if folder.get("available") is False:
                    return "Unavailable (index kept)"
                if is_incomplete(folder):
                    return "Incomplete: indexing resumes"
                return format_when(_first(folder, "last_update", "updated", "last_indexed"))
            if column == 4:
                return f"{len(failures)} file{'s' if len(failures) != 1 else ''}" if failures else "—"
        if role == Qt.ToolTipRole:
            if folder.get("available") is False and column in (0, 3):
                return f"{path}\n{folder.get('unavailable_reason') or 'The folder is not there.'}"
            if column == 3 and is_incomplete(folder):
                return ("Indexing of this folder was interrupted; the files indexed so far "
                        "can be searched, and the rest is indexed again automatically.")
            if column == 0:
                return path
            if column == 4 and failures:
                lines = [f"{Path(p).name}: {r}" for p, r in failures[:20]]
                if len(failures) > 20:
                    lines.append(f"… and {len(failures) - 20} more")
                return "\n".join(lines)
        if role == Qt.TextAlignmentRole and column in (1, 2):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole and folder.get("available") is False:
            from PySide6.QtGui import QPalette
            from PySide6.QtWidgets import QApplication

            return QApplication.palette().color(QPalette.Disabled, QPalette.Text)
        if role == Qt.ForegroundRole and column == 4 and failures:
            from PySide6.QtGui import QColor
            from desktop_app.ui import theme

            return QColor("#ff8a80" if theme.is_dark() else "#b3261e")
        return None
