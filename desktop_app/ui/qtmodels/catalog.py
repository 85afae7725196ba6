"""The model catalog as a table, changed only in the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt

from desktop_app.ui.qtmodels.table import ColumnsTableModel
from PySide6.QtGui import QFont

SOURCE_NAMES = {"default": "Packaged default", "project": "Project models folder",
                "models-dir": "Your models folder", "added": "Added by you",
                "lmstudio": "LM Studio", "ollama": "Ollama", "gpt4all": "GPT4All", "jan": "Jan",
                "huggingface": "Hugging Face cache", "llamacpp": "llama.cpp cache", "folder": "Your folder"}


def human_size(n_bytes: Optional[int]) -> str:
    if not n_bytes:
        return "—"
    value = float(n_bytes)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n_bytes} B"


def human_count(n: Optional[int]) -> str:
    if not n:
        return "—"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}".replace(".0", "")
    return str(n)


class CatalogModel(ColumnsTableModel):
    COLUMNS = ("Model", "Quantization", "Parameters", "Layers", "Size", "Source")
    ROWS_ATTRIBUTE = "entries"

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.entries: list = []
        self.active_path: Optional[str] = None

    def set_entries(self, entries: list) -> None:
        self.beginResetModel()
        self.entries = list(entries)
        self.endResetModel()

    def set_active(self, path: Optional[str]) -> None:
        self.active_path = str(Path(path).resolve()) if path else None
        if self.entries:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.entries) - 1, 0))

    def entry(self, row: int):
        return self.entries[row]

    def row_of(self, path: str) -> Optional[int]:
        target = Path(path).resolve()
        for row, entry in enumerate(self.entries):
            if Path(entry.path).resolve() == target:
                return row
        return None

    def data(self, index, role=Qt.DisplayRole):
        if not index.isValid():
            return None
        entry = self.entries[index.row()]
        info = entry.info
        column = index.column()
        active = self.active_path is not None and str(Path(entry.path).resolve()) == self.active_path
        if role == Qt.DisplayRole:
            if column == 0:
                name = (info.name if info and info.name else Path(entry.path).name)
                if info is not None and (info.lineage or {}).get("method"):
                    name = Path(entry.path).name  # variants share the parent's name
                return ("● " if active else "") + name
            if info is None:
                return "unusable" if column == 1 else ("" if column != 5 else
                                                       SOURCE_NAMES.get(entry.source, entry.source))
            if column == 1:
                return info.quantization
            if column == 2:
                return human_count(info.parameter_count)
            if column == 3:
                return str(info.layer_count or "—")
            if column == 4:
                return human_size(info.file_size)
            if column == 5:
                lineage = info.lineage or {}
                if lineage.get("method"):
                    return f"{lineage['method'].capitalize()} of {lineage.get('parent_name', '?')}"
                return SOURCE_NAMES.get(entry.source, entry.source)
        if role == Qt.ToolTipRole:
            if info is None:
                return f"{entry.path}\n{entry.error}"
            return str(entry.path) + ("\n(active model)" if active else "")
        if role == Qt.FontRole and active and column == 0:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ForegroundRole and info is None:
            from PySide6.QtGui import QColor
            from desktop_app.ui import theme

            return QColor("#ff8a80" if theme.is_dark() else "#b3261e")
        if role == Qt.TextAlignmentRole and column in (2, 3, 4):
            return int(Qt.AlignRight | Qt.AlignVCenter)
        return None
