"""The settings dialog, built from the ``Settings`` dataclass: one field, one
editor, the field's help as its tooltip, its check as the editor's range."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Callable, Optional

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)

from desktop_app.core.settings import Settings, SettingsError

GROUPS = (
    ("Chat model", ("model_path", "context_length", "temperature", "max_tokens", "threads", "gpu_layers")),
    ("Models on this computer", ("scan_lmstudio", "scan_ollama", "scan_gpt4all", "scan_jan",
                                 "scan_huggingface", "scan_llamacpp", "model_folders")),
    ("Library", ("embedder_backend", "chunk_tokens", "chunk_overlap", "retrieval_k", "watch_folders")),
    ("Appearance", ("theme",)),
    ("Diagnostics", ("log_content",)),
)

LABELS = {
    "model_path": "Model file", "context_length": "Context length", "temperature": "Temperature",
    "max_tokens": "Longest answer (tokens)", "threads": "CPU threads", "embedder_backend":
    "Embedding backend", "chunk_tokens": "Passage size (tokens)", "chunk_overlap":
    "Passage overlap (tokens)", "retrieval_k": "Passages per answer", "watch_folders":
    "Keep folders in sync", "theme": "Colour scheme", "gpu_layers": "GPU layers",
    "scan_lmstudio": "LM Studio", "scan_ollama": "Ollama", "scan_gpt4all": "GPT4All", "scan_jan": "Jan",
    "scan_huggingface": "Hugging Face cache", "scan_llamacpp": "llama.cpp cache",
    "model_folders": "Other model folders",
    "log_content": "Questions and text in the log",
}


# Choices in words (the values stay what the settings file stores).
OPTION_LABELS = {
    "onnx-int8": "Fast (ONNX, 8-bit)", "torch": "Reference (PyTorch, slower)",
    "system": "Follow the system", "light": "Light", "dark": "Dark",
}

# Tooltips that say what a setting does, not its name again.
HELP = {
    "model_path": "The GGUF model file answers are written with. Leave empty for the packaged "
                  "model; the Models page lists the ones Hearth knows.",
    "context_length": "How much text the model reads at once: the question, the passages and the "
                      "conversation so far. Larger needs more memory.",
    "temperature": "0 gives the same answer every time; higher values vary the wording and make "
                   "mistakes more likely.",
    "max_tokens": "Answers stop after this many tokens (a token is about three quarters of a word).",
    "threads": "How many processor cores write answers. All cores is fastest; fewer leaves room "
               "for other programs.",
    "embedder_backend": "How passages are turned into search vectors. Fast is what the installed "
                        "app uses; the reference one needs PyTorch.",
    "chunk_tokens": "How long each indexed passage is. Shorter passages point more precisely; "
                    "longer ones carry more context.",
    "chunk_overlap": "How much consecutive passages share, so a sentence cut at a boundary is "
                     "still found whole.",
    "retrieval_k": "How many passages the model reads for each question.",
    "watch_folders": "Index new and changed files in your library folders while Hearth runs.",
    "theme": "Light, dark, or whatever your desktop uses.",
}


def _closure(check) -> dict[str, Any]:
    """The parameters a ``_range``/``_choice`` check closes over."""
    if check is None or not getattr(check, "__closure__", None):
        return {}
    names = check.__code__.co_freevars
    return {name: cell.cell_contents for name, cell in zip(names, check.__closure__)}


# Settings whose change rebuilds the library's index (core/library/reindex.py).
INDEX_SETTINGS = ("chunk_tokens", "chunk_overlap", "embedder_backend")
INDEX_NOTE = ("Changing the passage size or the backend re-indexes the library in the background; "
              "search keeps working with the current index until the new one is complete.")


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: Optional[QWidget] = None,
                 index_change: Optional[Callable[[dict], Optional[str]]] = None) -> None:
        """``index_change(values)``: what these values would cost the
        library, in one sentence, or None when nothing."""
        super().__init__(parent)
        self._index_change = index_change
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
                editor.setToolTip(HELP.get(name, f.metadata.get("help", "")))
                editor.setAccessibleName(LABELS.get(name, name))
                editor.setAccessibleDescription(editor.toolTip())
                self.editors[name] = editor
                field = editor
                if name == "model_path":
                    field = QWidget()
                    row = QHBoxLayout(field)
                    row.setContentsMargins(0, 0, 0, 0)
                    row.addWidget(editor, 1)
                    self.browse_button = QPushButton("Browse…")
                    self.browse_button.setAccessibleName("Choose the model file")
                    self.browse_button.clicked.connect(self.choose_model)
                    row.addWidget(self.browse_button)
                form.addRow(LABELS.get(name, name.replace("_", " ").capitalize()), field)
            layout.addLayout(form)
        self.error = QLabel()
        self.error.setObjectName("banner")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        self.index_note = QLabel(INDEX_NOTE)
        self.index_note.setObjectName("muted")
        self.index_note.setWordWrap(True)
        layout.addWidget(self.index_note)
        for name in INDEX_SETTINGS:
            editor = self.editors.get(name)
            if isinstance(editor, QComboBox):
                editor.currentIndexChanged.connect(self._show_index_cost)
            elif isinstance(editor, QSpinBox):
                editor.valueChanged.connect(self._show_index_cost)
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
                box.addItem(OPTION_LABELS.get(str(option), str(option)), option)
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

    def _show_index_cost(self, *_args) -> None:
        cost = self._index_change(self.values()) if self._index_change is not None else None
        self.index_note.setObjectName("banner" if cost else "muted")
        self.index_note.setText(cost or INDEX_NOTE)
        self.index_note.style().unpolish(self.index_note)
        self.index_note.style().polish(self.index_note)

    def choose_model(self) -> None:
        from pathlib import Path

        from PySide6.QtWidgets import QFileDialog

        current = self.editors["model_path"].text().strip()
        start = str(Path(current).parent) if current else str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose a model file", start,
                                              "GGUF models (*.gguf);;All files (*)")
        if path:
            self.editors["model_path"].setText(path)

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
