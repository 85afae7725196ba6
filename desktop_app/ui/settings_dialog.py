"""The settings dialog, built from the ``Settings`` dataclass: one field, one
editor, the field's help as its tooltip, its check as the editor's range."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Optional

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget)

from desktop_app.core.settings import Settings, SettingsError

GROUPS = (
    ("Chat model", ("model_path", "context_length", "temperature", "max_tokens", "threads")),
    ("Library", ("embedder_backend", "chunk_tokens", "chunk_overlap", "retrieval_k", "watch_folders")),
    ("Appearance", ("theme",)),
)

LABELS = {
    "model_path": "Model file", "context_length": "Context length", "temperature": "Temperature",
    "max_tokens": "Longest answer (tokens)", "threads": "CPU threads", "embedder_backend":
    "Embedding backend", "chunk_tokens": "Passage size (tokens)", "chunk_overlap":
    "Passage overlap (tokens)", "retrieval_k": "Passages per answer", "watch_folders":
    "Keep folders in sync", "theme": "Colour scheme",
}


def _closure(check) -> dict[str, Any]:
    """The parameters a ``_range``/``_choice`` check closes over."""
    if check is None or not getattr(check, "__closure__", None):
        return {}
    names = check.__code__.co_freevars
    return {name: cell.cell_contents for name, cell in zip(names, check.__closure__)}


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        # Wide enough for the labels and a model path (it opened 301 px wide).
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * 80)
        self.settings = settings
        self.editors: dict[str, QWidget] = {}
        by_name = {f.name: f for f in fields(Settings)}
        layout = QVBoxLayout(self)
        for title, names in GROUPS:
            heading = QLabel(title)
            heading.setStyleSheet("font-weight: 600; margin-top: 0.6em;")
            layout.addWidget(heading)
            form = QFormLayout()
            for name in names:
                if name not in by_name:
                    continue
                f = by_name[name]
                editor = self._editor(f, getattr(settings, name))
                editor.setToolTip(f.metadata.get("help", ""))
                editor.setAccessibleName(LABELS.get(name, name))
                self.editors[name] = editor
                form.addRow(LABELS.get(name, name.replace("_", " ").capitalize()), editor)
            layout.addLayout(form)
        self.error = QLabel()
        self.error.setObjectName("banner")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        note = QLabel("Passage size and backend apply to files indexed from now on.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _editor(self, f, value) -> QWidget:
        params = _closure(f.metadata.get("check"))
        if "options" in params:
            box = QComboBox()
            options = params["options"]
            offered = f.metadata.get("offered")
            if offered is not None:   # only what this installation can run (the current value stays)
                runnable = offered()
                options = [o for o in options if o in runnable or o == value]
            for option in options:
                box.addItem(str(option), option)
            box.setCurrentIndex(max(0, box.findData(value)))
            return box
        if isinstance(f.default, bool):
            box = QCheckBox()
            box.setChecked(bool(value))
            return box
        if isinstance(f.default, int):
            box = QSpinBox()
            box.setRange(int(params.get("lo", 0)), int(params.get("hi", 10 ** 9)))
            box.setValue(int(value))
            if f.name == "threads":
                box.setSpecialValueText("all cores")
            return box
        if isinstance(f.default, float):
            box = QDoubleSpinBox()
            box.setRange(float(params.get("lo", 0.0)), float(params.get("hi", 1e9)))
            box.setSingleStep(0.05)
            box.setValue(float(value))
            return box
        line = QLineEdit("" if value is None else str(value))
        if f.name == "model_path":
            line.setPlaceholderText("the packaged default model (choose one on the Models page)")
        return line

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QComboBox):
                out[name] = editor.currentData()
            elif isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
                out[name] = editor.value()
            else:
                text = editor.text().strip()
                out[name] = text or None
        return out

    def accept(self) -> None:
        trial = Settings.from_dict({**self.settings.to_dict(), **self.values()})
        for name, value in self.values().items():
            setattr(trial, name, value)
        try:
            trial.validate()
        except SettingsError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        super().accept()
