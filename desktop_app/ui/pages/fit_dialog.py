"""Fit to size: the user gives a budget (a file size, or the memory the
loaded model may use at a context length), Hearth measures candidates (a
job with progress and a Stop button), shows them as a size/loss chart and a
table, and builds the one the user picks. The search and the build are the
core workflow's ``search_fit`` and ``build_fit`` (through the controller);
this dialog only shows what they return."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QComboBox, QDialog, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QRadioButton, QSpinBox, QSplitter, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from desktop_app.ui.pages.model_dialogs import variant_path
from desktop_app.ui.qtmodels.catalog import human_size
from desktop_app.ui.widgets.fit_chart import FitChart

log = logging.getLogger(__name__)

COLUMNS = ("Size", "KL from source", "Same top token", "Kind", "Tensor types")


def _named(widget, name: str, description: str):
    widget.setAccessibleName(name)
    widget.setAccessibleDescription(description)
    return widget


class FitDialog(QDialog):
    searched = Signal(object)     # FitSearch, once shown
    built = Signal(object)        # FitResult

    def __init__(self, entry, controller, *, context_length: int, library_passages: int,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        from desktop_app.core.llm.fit import PRESETS

        self.entry, self.controller = entry, controller
        self.info = entry.info
        self.models_dir = Path(controller.services.paths.models_dir)
        self.search_result = None
        self.job = None
        self.rows: list = []
        self.evaluate_windows = 8       # windows of 512 tokens the built model is evaluated on
        self.setWindowTitle(f"Fit {Path(entry.path).name} to size")
        intro = QLabel(
            "Hearth makes the variant of this model with the least loss that fits your budget: it tries mixes "
            "of tensor types (one per group of tensors) and measures each one's divergence from this model "
            "(KL) on calibration text; each candidate costs a quantization and a measurement.")
        intro.setWordWrap(True)
        self.quantized = bool(self.info.is_quantized)
        source_note = QLabel(
            f"⚠ This model is already quantized ({html.escape(self.info.quantization or '?')}): candidates are "
            "made from an F16 conversion of it, so its earlier loss stays; KL is measured from this file."
            if self.quantized else "")
        source_note.setWordWrap(True)
        source_note.setVisible(self.quantized)

        current_mb = max(1, int(self.info.file_size / 1e6))
        self.by_file = _named(QRadioButton("File size"), "Budget as a file size",
                              "The variant's file must be at most this many megabytes")
        self.by_memory = _named(QRadioButton("Memory when loaded"), "Budget as memory",
                                "The loaded variant must need at most this much memory at the context length")
        self.budget_kind = QButtonGroup(self)
        self.budget_kind.addButton(self.by_file)
        self.budget_kind.addButton(self.by_memory)
        self.file_mb = _named(QSpinBox(), "File size budget in MB", "Megabytes of 10^6 bytes")
        self.file_mb.setRange(1, current_mb * 4)
        self.file_mb.setSuffix(" MB")
        self.file_mb.setValue(max(1, int(current_mb * 0.85)))
        self.memory_mb = _named(QSpinBox(), "Memory budget in MB",
                                "What the loaded model may use, by Hearth's memory estimate")
        self.memory_mb.setRange(1, 1_000_000)
        self.memory_mb.setSuffix(" MB")
        self.context = _named(QSpinBox(), "Context length for the memory budget",
                              "Tokens of context the memory budget is counted at")
        self.context.setRange(256, 131072)
        self.context.setSingleStep(512)
        self.context.setSuffix(" tokens")
        self.context.setValue(context_length)
        self.memory_mb.setValue(self._memory_at(self.file_mb.value()))
        self.budget_note = QLabel()
        self.budget_note.setWordWrap(True)
        self.budget_note.setObjectName("info")
        self.by_file.setChecked(True)

        self.calibration = _named(QComboBox(), "Calibration text",
                                  "The text each candidate's loss is measured on")
        self.calibration.addItem("Hearth's bundled text", None)
        library_label = (f"Your library ({library_passages:,} passages)" if library_passages
                         else "Your library (no passages indexed yet)")
        self.calibration.addItem(library_label, "library")
        self.calibration.model().item(1).setEnabled(bool(library_passages))
        self.steps = _named(QSpinBox(), "Search steps", "At most this many moves of one group of tensors")
        self.steps.setRange(1, 40)
        self.steps.setValue(12)
        self.windows = _named(QSpinBox(), "Text windows per measurement",
                              "Windows of 256 tokens each candidate's KL is measured on; more is steadier")
        self.windows.setRange(2, 32)
        self.windows.setValue(4)
        layers = int(self.info.layer_count or 0)
        self.prune = _named(QSpinBox(), "Blocks to try removing",
                            "Also measure the best mix with the 1 to N least important blocks removed (0: none)")
        self.prune.setRange(0, max(0, min(4, layers - 2)))
        self.prune.setValue(0)
        others = [p for p in PRESETS if p != "Q4_K_M"]
        self.presets = _named(QCheckBox(f"Also measure llama.cpp's presets ({', '.join(others)})"),
                              "Measure the standard presets", f"{len(others)} more measurements, for comparison")
        self.presets.setChecked(True)

        self.search_button = _named(QPushButton("Search"), "Search", "Measure candidates within the budget")
        self.search_button.setObjectName("primary")
        self.search_button.clicked.connect(self.start_search)
        self.stop_button = _named(QPushButton("Stop"), "Stop", "Cancel the running search or build")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.progress = _named(QProgressBar(), "Progress", "Progress of the running search or build")
        self.progress.setRange(0, 0)
        self.progress.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.chart = FitChart()
        self.table = _named(QTableWidget(0, len(COLUMNS)), "Candidates measured",
                            "One row per candidate; the best within the budget is selected")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.Stretch)
        self.table.itemSelectionChanged.connect(self._on_row)
        self.table.setMinimumHeight(self.table.horizontalHeader().sizeHint().height()
                                    + self.table.verticalHeader().defaultSectionSize() * 3 + 4)
        self.output = _named(QLineEdit(), "Save as", "Where the chosen variant is written")
        self.build_button = _named(QPushButton("Build Selected"), "Build the selected candidate",
                                   "Quantize it, record its lineage and evaluate it")
        self.build_button.setEnabled(False)
        self.build_button.clicked.connect(self.start_build)
        self.close_button = _named(QPushButton("Close"), "Close", "Close this dialog; a running job is stopped")
        self.close_button.clicked.connect(self.reject)

        # Compact rows: the dialog, chart and table included, fits a 1024x700 screen.
        budget = QHBoxLayout()
        for w in (self.by_file, self.file_mb, self.by_memory, self.memory_mb, QLabel("at"), self.context):
            budget.addWidget(w)
        budget.addStretch(1)
        options = QHBoxLayout()
        for w in (QLabel("Calibration"), self.calibration, QLabel("Search steps"), self.steps,
                  QLabel("Windows"), self.windows, QLabel("Remove up to"), self.prune, QLabel("blocks")):
            options.addWidget(w)
        options.addStretch(1)
        run = QHBoxLayout()
        run.addWidget(self.presets)
        run.addStretch(1)
        run.addWidget(self.progress, 1)
        run.addWidget(self.search_button)
        run.addWidget(self.stop_button)
        results = QSplitter(Qt.Vertical)
        results.addWidget(self.chart)
        results.addWidget(self.table)
        results.setStretchFactor(0, 3)
        results.setStretchFactor(1, 2)
        results.setChildrenCollapsible(False)
        build = QHBoxLayout()
        build.addWidget(QLabel("Save as"))
        build.addWidget(self.output, 1)
        build.addWidget(self.build_button)
        build.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(6)
        layout.addWidget(intro)
        layout.addWidget(source_note)
        layout.addLayout(budget)
        layout.addWidget(self.budget_note)
        layout.addLayout(options)
        layout.addLayout(run)
        layout.addWidget(self.status)
        layout.addWidget(results, 1)
        layout.addLayout(build)
        screen = self.screen().availableGeometry() if self.screen() is not None else None
        self.resize(900, min(720, screen.height() - 50) if screen is not None else 720)
        for w in (self.by_file, self.by_memory):
            w.toggled.connect(self._update_budget)
        for w in (self.file_mb, self.memory_mb, self.context):
            w.valueChanged.connect(self._update_budget)
        self._update_budget()

    # -- the budget --------------------------------------------------------------------
    def _memory_at(self, file_mb: int) -> int:
        """The memory a variant of ``file_mb`` needs at the chosen context (a starting value)."""
        from desktop_app.core.llm.memory import MemoryEstimateError, file_size_for_memory

        try:
            allowed, _ = file_size_for_memory(self.info, 0, self.context.value())
        except MemoryEstimateError:
            return file_mb
        return max(1, int(file_mb - allowed / 1e6))

    def budget(self):
        """The Budget asked for, or a sentence saying why there is none."""
        from desktop_app.core.llm.fit import Budget, FitError, memory_budget

        if self.by_file.isChecked():
            return Budget(self.file_mb.value() * 1_000_000)
        try:
            return memory_budget(self.info, self.memory_mb.value() * 1_000_000, self.context.value())
        except FitError as exc:
            return str(exc)

    def _update_budget(self, *_args) -> None:
        memory = self.by_memory.isChecked()
        self.file_mb.setEnabled(not memory)
        self.memory_mb.setEnabled(memory)
        self.context.setEnabled(memory)
        budget = self.budget()
        if isinstance(budget, str):
            self.budget_note.setText(budget[0].upper() + budget[1:] + ".")
        elif memory:
            self.budget_note.setText(
                f"By Hearth's memory estimate, {budget.memory_bytes / 1e6:,.0f} MB at {budget.n_ctx:,} tokens "
                f"of context allows a file of at most <b>{budget.file_bytes / 1e6:,.0f} MB</b> "
                f"(this model's file is {human_size(self.info.file_size)}).")
        else:
            self.budget_note.setText(f"This model's file is {human_size(self.info.file_size)}.")
        self.search_button.setEnabled(not isinstance(budget, str) and self.job is None)
        if not isinstance(budget, str):
            self.output.setText(str(variant_path(self.models_dir, Path(self.entry.path),
                                                 f"fit{budget.file_bytes / 1e6:.0f}MB")))

    # -- jobs --------------------------------------------------------------------------
    def _running(self, job, what: str) -> None:
        self.job = job
        for w in (self.search_button, self.build_button):
            w.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(what)
        job.progressed.connect(self._on_progress)
        job.failed.connect(lambda m: self.status.setText(f"<b>It did not work:</b> {html.escape(m)}"))
        job.cancelled.connect(lambda: self.status.setText("Stopped; nothing was written."))
        job.ended.connect(self._ended)

    def _on_progress(self, progress) -> None:
        if progress.total:
            self.progress.setRange(0, progress.total)
            self.progress.setValue(progress.done)
        else:
            self.progress.setRange(0, 0)
        self.status.setText(f"{progress.stage.capitalize()}: {html.escape(progress.detail)}")

    def _ended(self) -> None:
        self.job = None
        self.stop_button.setEnabled(False)
        self.progress.hide()
        self.search_button.setEnabled(not isinstance(self.budget(), str))   # the name typed stays
        self.build_button.setEnabled(self.search_result is not None and bool(self.table.selectedItems()))

    def start_search(self):
        budget = self.budget()
        if isinstance(budget, str) or self.job is not None:
            return None
        from desktop_app.core.llm.fit import PRESETS

        job = self.controller.fit_search(
            str(self.entry.path), budget, calibration=self.calibration.currentData(), from_f16=self.quantized,
            presets=PRESETS if self.presets.isChecked() else (), windows=self.windows.value(),
            max_steps=self.steps.value(), prune_layers=self.prune.value())
        job.finished.connect(self.show_search)
        self._running(job, f"Searching within {html.escape(budget.describe())}…")
        return job

    def show_search(self, search) -> None:
        self.search_result = search
        measured = sorted(search.measured, key=lambda c: c.file_size)
        self.rows = measured
        self.chart.set_search(search)
        best = search.best
        if best is None:
            self.status.setText(html.escape(search.no_fit_message()))
        else:
            self.status.setText(
                f"Measured {len(measured)} candidates on {html.escape(search.calibration_note)} in "
                f"{search.seconds:.0f} s. Proposed: <b>{html.escape(best.name)}</b>, {best.mb:,.1f} MB, "
                f"KL {best.kl_mean:.4f} (the least KL within {html.escape(search.budget.describe())}). "
                "Pick another row to build that one instead.")
        self.table.setRowCount(len(measured))
        for r, c in enumerate(measured):
            kind = {"preset": "llama.cpp preset", "front": "mix, Pareto front", "mix": "mix"}[self.chart.kind(c)]
            if c.removed_layers:
                kind += f", {len(c.removed_layers)} block{'s' if len(c.removed_layers) > 1 else ''} removed"
            if c.file_size > search.budget.file_bytes:
                kind += ", over budget"
            cells = (f"{c.mb:,.1f} MB", f"{c.kl_mean:.4f}", f"{c.same_top_pct:.1f}%", kind, c.describe())
            for col, value in enumerate(cells):
                item = QTableWidgetItem(value)
                if col < 3:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.table.setItem(r, col, item)
        if best is not None:
            self.table.selectRow(measured.index(best))
            self.table.scrollTo(self.table.model().index(measured.index(best), 0))
        self.searched.emit(search)

    def selected_candidate(self):
        rows = self.table.selectionModel().selectedRows()
        return self.rows[rows[0].row()] if rows and self.search_result is not None else None

    def _on_row(self) -> None:
        candidate = self.selected_candidate()
        self.chart.set_selected(candidate)
        self.build_button.setEnabled(candidate is not None and self.job is None)

    def start_build(self):
        candidate = self.selected_candidate()
        out = self.output.text().strip()
        if candidate is None or self.job is not None:
            return None
        if not out:
            self.status.setText("Choose a file name for the variant.")
            return None
        if Path(out).exists():
            self.status.setText(f"{html.escape(Path(out).name)} exists already; choose another name.")
            return None
        job = self.controller.fit_build(self.search_result, candidate, out, evaluate_windows=self.evaluate_windows)
        job.finished.connect(self._on_built)
        self._running(job, f"Building {html.escape(candidate.name)} ({candidate.mb:,.1f} MB)…")
        return job

    def _on_built(self, result) -> None:
        ev = result.evaluation
        measured = (f" Evaluated on the bundled evaluation text: KL from the source {ev.kl_mean:.4f}, "
                    f"perplexity {ev.perplexity:.2f}." if ev is not None and ev.kl_mean is not None else "")
        self.status.setText(f"Built <b>{html.escape(Path(result.path).name)}</b> "
                            f"({human_size(result.chosen.file_size)}); it is in the Models list with its "
                            f"lineage.{measured}")
        self.built.emit(result)

    def stop(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def reject(self) -> None:
        self.stop()
        super().reject()
