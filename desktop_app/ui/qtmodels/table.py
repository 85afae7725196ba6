"""What every table model of Hearth shares: fixed named columns over a list
of rows that is replaced, only in the GUI thread, when new data arrives."""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt


class ColumnsTableModel(QAbstractTableModel):
    """Subclasses name their columns and the attribute holding their rows."""

    COLUMNS: tuple[str, ...] = ()
    ROWS_ATTRIBUTE = "rows_data"

    def rows(self) -> Sequence:
        return getattr(self, self.ROWS_ATTRIBUTE)

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows())

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(self, section, orientation, role=Qt.DisplayRole):
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.COLUMNS[section]
        return None
