"""The Models page: the catalog, the active model, the workshop (quantize,
prune, evaluate) and a comparison of a model's variants."""

from __future__ import annotations

import html
import logging
import math
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (QAbstractItemView, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QSplitter, QTableView, QTableWidget, QTableWidgetItem,
                               QTextBrowser, QVBoxLayout, QWidget)

from desktop_app.ui import theme
from desktop_app.ui.qtmodels.catalog import CatalogModel, human_count, human_size
from desktop_app.ui.qtmodels.sources import format_when
from desktop_app.ui.widgets.banner import Banner
from desktop_app.ui.widgets.jobs import JobPanel

MODEL_JOB_KINDS = {"model-load", "catalog-add", "quantize", "prune", "evaluate", "fit-search", "fit-build"}

log = logging.getLogger(__name__)

COMPARE_COLUMNS = (("name", "Variant"), ("file_size", "Size"), ("perplexity", "Perplexity"),
                   ("kl_mean", "KL from parent"), ("same_top_pct", "Same top token"),
                   ("gen_tokens_per_s", "Tokens/s"))


def _fmt(key: str, value) -> str:
    if value is None:
        return "—"
    if key == "file_size":
        return human_size(value)
    if key == "kl_mean":
        return f"{value:.4f}"
    if key == "same_top_pct":
        return f"{value:.1f}%"
    if key == "perplexity":
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def settings_in_words(method: str, settings: dict) -> str:
    """A variant's recorded settings as a sentence a user reads
    (``type=Q8_0, via=F16, source_type=quantized`` was what they saw)."""
    parts = []
    if settings.get("type"):
        parts.append(f"stored as {settings['type']}")
    if method == "fit" and settings.get("preset"):
        overrides = settings.get("overrides") or {}
        parts.append(f"{settings['preset']}" + (" with " + ", ".join(f"{g} as {t}" for g, t in overrides.items())
                                               if overrides else "") + f", fitted to {settings.get('budget', 'a budget')}")
        if settings.get("calibration"):
            parts.append(f"loss measured on {settings['calibration']}")
    if settings.get("via") == "F16":
        parts.append("converted to F16 first")
    source = settings.get("source_type")
    if source and method != "prune":
        parts.append(f"from a {source} file")
    if settings.get("requantized"):
        parts.append("re-quantized directly, so the quality losses add up")
    if settings.get("imatrix"):
        parts.append("with an importance matrix" + (" computed from the calibration text"
                                                   if "calibration" in str(settings["imatrix"]) else ""))
    blocks = settings.get("block_count")
    if isinstance(blocks, dict) and blocks.get("before"):
        removed = settings.get("removed_layers") or []
        parts.append(f"{len(removed)} of {blocks['before']} blocks removed"
                     + (f" (numbers {', '.join(str(n) for n in removed)})" if removed else ""))
    if settings.get("threads"):
        parts.append(f"using {settings['threads']} CPU threads")
    text = "; ".join(parts)
    return (text[0].upper() + text[1:] + ".") if text else "—"


# Below this many parameters a model is "a first taste" (the packaged 270M).
SMALL_MODEL_PARAMETERS = 1_000_000_000


def better_model_guidance(entries: list, active_path) -> str:
    """What to say about a better model: nothing when a capable one is in
    use; the larger ones Hearth found, if any; else what one brings and how
    to add one."""
    usable = [e for e in entries if e.info is not None and e.info.parameter_count]
    active = next((e for e in usable if active_path and Path(e.path).resolve() == Path(active_path).resolve()),
                  next((e for e in usable if e.source == "default"), None))
    current = active.info.parameter_count if active is not None else 0
    if current >= SMALL_MODEL_PARAMETERS:
        return ""
    larger = sorted((e for e in usable if e.info.parameter_count > current and not (e.info.lineage or {}).get("method")),
                    key=lambda e: -e.info.parameter_count)
    if larger:
        names = ", ".join(f"{html.escape(e.info.name or Path(e.path).name)} "
                          f"({human_count(e.info.parameter_count)} parameters)" for e in larger[:3])
        return (f"<b>Larger models are here:</b> {names}. A larger model reads passages more "
                "reliably and writes clearer answers; select one and click <b>Use for Chat</b>.")
    size = human_count(current) if current else "small"
    return (f"<b>The packaged model ({size} parameters) is a first taste.</b> It answers short "
            "questions from your documents but often misreads longer ones. An instruction-tuned "
            "model of 1-4 billion parameters (a GGUF file of 1-3 GB, Q4_K_M) gives clearer answers "
            "and can call the calculator itself. Download one from a model site on any computer, "
            "then drop the .gguf file here or use <b>Add Model…</b>; it stays on this computer.")


class ComparisonChart(QWidget):
    """Size against quality (perplexity) and speed (generation tokens/s):
    two small scatter panels, one labelled point per variant."""

    PANELS = (("perplexity", "Perplexity (lower is better)"),
              ("gen_tokens_per_s", "Generation tokens/s (higher is better)"))

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.rows: list[dict] = []
        self.bounds: dict[str, tuple] = {}   # panel -> (x0, x1, y0, y1) as last drawn
        self.label_rects: dict[str, list] = {}   # panel -> where its point labels were drawn
        self.setMinimumHeight(self.fontMetrics().height() * 14)

    def set_rows(self, rows: list[dict]) -> None:
        self.rows = [r for r in rows if r.get("file_size")]
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        pal = self.palette()
        text = pal.color(pal.ColorRole.WindowText)
        grid = QColor(text)
        grid.setAlpha(50)
        accent = QColor(theme.ACCENT)
        fm = self.fontMetrics()
        panel_width = self.width() / len(self.PANELS)
        for i, (key, title) in enumerate(self.PANELS):
            area = QRectF(i * panel_width + fm.height() * 3.2, fm.height() * 1.8,
                          panel_width - fm.height() * 4.4, self.height() - fm.height() * 4.2)
            painter.setPen(text)
            painter.drawText(QRectF(i * panel_width, 0, panel_width, fm.height() * 1.5), Qt.AlignCenter, title)
            points = [(r["file_size"] / 1e6, r[key], r.get("name", "")) for r in self.rows
                      if r.get(key) is not None]
            painter.setPen(QPen(grid, 1))
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(area)
            if not points:
                painter.setPen(text)
                painter.drawText(area, Qt.AlignCenter | Qt.TextWordWrap,
                                 "Not evaluated yet:\nclick Evaluate on each variant")
                continue
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            # Both axes start at zero: a 0.7% difference looks like one
            # (an auto-scaled axis, 15.10-15.25, made it look huge).
            x0, x1 = min(0.0, min(xs)), max(xs) * 1.12 or 1.0
            y0, y1 = min(0.0, min(ys)), max(ys) * 1.15 or 1.0
            self.bounds[key] = (x0, x1, y0, y1)
            # Enough decimals that the three axis labels differ.
            decimals = max(0, min(4, 1 - int(math.floor(math.log10(max(y1 - y0, 1e-9))))))

            def at(x, y):
                return QPointF(area.left() + (x - x0) / (x1 - x0) * area.width(),
                               area.bottom() - (y - y0) / (y1 - y0) * area.height())

            painter.setPen(text)
            small = QFont(self.font())
            small.setPointSizeF(max(6.0, self.font().pointSizeF() * 0.85))
            painter.setFont(small)
            for frac in (0.0, 0.5, 1.0):
                y = y0 + (y1 - y0) * frac
                painter.drawText(QRectF(area.left() - fm.height() * 3.1, at(x0, y).y() - fm.height(),
                                        fm.height() * 3.0, fm.height() * 2), Qt.AlignRight | Qt.AlignVCenter,
                                 f"{y:.{decimals}f}")
                x = x0 + (x1 - x0) * frac
                painter.drawText(QRectF(at(x, y0).x() - fm.height() * 2, area.bottom() + 2,
                                        fm.height() * 4, fm.height()), Qt.AlignCenter, f"{x:.0f}")
            painter.drawText(QRectF(area.left(), area.bottom() + fm.height(), area.width(),
                                    fm.height() * 1.2), Qt.AlignCenter, "file size (MB)")
            if len(points) == 1:
                painter.drawText(QRectF(area.left(), area.top() + 4, area.width(), fm.height() * 1.3),
                                 Qt.AlignCenter, "Evaluate another variant to compare")
            placed: list[QRectF] = []
            for x, y, name in points:
                point = at(x, y)
                painter.setPen(Qt.NoPen)
                painter.setBrush(accent)
                painter.drawEllipse(point, 4.5, 4.5)
                painter.setPen(text)
                label = name[:-5] if name.endswith(".gguf") else name
                label = fm.elidedText(label, Qt.ElideMiddle, int(area.width() * 0.6))
                label_width = fm.horizontalAdvance(label)
                # Labels go on the side of the point with room for them, and
                # below the labels already drawn when they would overlap one.
                dx = 7 if point.x() + 7 + label_width < area.right() else -7 - label_width
                rect = QRectF(point.x() + dx, point.y() - 6 - fm.ascent(), label_width, fm.height())
                for _ in range(len(placed) + 1):   # n labels need at most n moves
                    if not any(rect.intersects(other) for other in placed):
                        break
                    rect.translate(0, fm.height())
                placed.append(rect)
                painter.drawText(QPointF(rect.left(), rect.top() + fm.ascent()), label)
            self.label_rects[key] = placed
            painter.setFont(self.font())
        painter.end()


class ModelsPage(QWidget):
    def __init__(self, controller, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setAcceptDrops(True)

        title = QLabel("Models")
        title.setObjectName("pageTitle")
        self.add_button = QPushButton("Add Model…")
        self.add_button.clicked.connect(self.choose_model_file)
        self.use_button = QPushButton("Use for Chat")
        self.use_button.setObjectName("primary")
        self.use_button.clicked.connect(self.use_selected)
        self.quantize_button = QPushButton("Quantize…")
        self.quantize_button.clicked.connect(self.quantize_selected)
        self.prune_button = QPushButton("Prune…")
        self.prune_button.clicked.connect(self.prune_selected)
        self.fit_button = QPushButton("Fit to Size…")
        self.fit_button.setToolTip("Make the variant with the least loss that fits a file size or memory budget")
        self.fit_button.setAccessibleDescription(self.fit_button.toolTip())
        self.fit_button.clicked.connect(self.fit_selected)
        self.fit_dialog = None
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setToolTip("Measure perplexity, divergence from its parent, speed "
                                        "and memory on a bundled text")
        self.evaluate_button.clicked.connect(self.evaluate_selected)
        self.compare_button = QPushButton("Compare Variants")
        self.compare_button.clicked.connect(self.compare_selected)
        self.model_buttons = (self.use_button, self.quantize_button, self.prune_button, self.fit_button,
                              self.evaluate_button, self.compare_button)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        for button in (self.add_button, *self.model_buttons):
            head.addWidget(button)

        self.banner = Banner()
        hint = QLabel("Drop .gguf files here or use <b>Add Model…</b>. Select a model to see "
                      "what is inside, make a smaller variant, or measure what it costs.")
        hint.setObjectName("muted")
        hint.setWordWrap(True)
        self.guide = QLabel()
        self.guide.setObjectName("info")
        self.guide.setWordWrap(True)

        self.model = CatalogModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Models")
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.ElideMiddle)
        header = self.table.horizontalHeader()
        # The name in full; the long "Quantize of …" source is what gives
        # way (it took the width and squeezed names to "G…70m").
        for column in range(len(CatalogModel.COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(len(CatalogModel.COLUMNS) - 1, QHeaderView.Stretch)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(lambda _i: self.use_selected())
        self.details = QTextBrowser()
        self.details.setAccessibleName("Model details")
        self.details.setPlaceholderText("Select a model to see its details.")

        self.compare_title = QLabel("Comparison")
        self.compare_title.setStyleSheet("font-weight: 600;")
        self.compare_table = QTableWidget(0, len(COMPARE_COLUMNS))
        self.compare_table.setHorizontalHeaderLabels([c[1] for c in COMPARE_COLUMNS])
        self.compare_table.verticalHeader().hide()
        self.compare_table.setWordWrap(False)
        self.compare_table.setTextElideMode(Qt.ElideMiddle)
        self.compare_table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.compare_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(COMPARE_COLUMNS)):
            self.compare_table.horizontalHeader().setSectionResizeMode(
                column, QHeaderView.ResizeToContents)
        self.chart = ComparisonChart()
        compare = QWidget()
        compare_layout = QVBoxLayout(compare)
        compare_layout.setContentsMargins(0, 0, 0, 0)
        compare_layout.addWidget(self.compare_title)
        compare_layout.addWidget(self.compare_table)
        compare_layout.addWidget(self.chart, 1)
        self.compare_area = compare
        compare.hide()

        top = QSplitter(Qt.Horizontal)
        top.addWidget(self.table)
        top.addWidget(self.details)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        vertical = QSplitter(Qt.Vertical)
        vertical.addWidget(top)
        vertical.addWidget(compare)
        vertical.setChildrenCollapsible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        layout.addLayout(head)
        layout.addWidget(self.banner)
        layout.addWidget(hint)
        layout.addWidget(self.guide)
        self.guide.hide()
        layout.addWidget(vertical, 1)
        # This page's own jobs (load, quantize, prune, evaluate) with their
        # progress, where the user started them.
        self.job_list = JobPanel(controller.jobs, kinds=MODEL_JOB_KINDS, compact=True)
        layout.addWidget(self.job_list)
        self.job_list.setVisible(bool(self.job_list.rows))

        c = controller
        c.catalogChanged.connect(self._on_catalog)
        c.catalogFailed.connect(lambda m: self.banner.show_error(f"Models could not be listed: {m}"))
        c.modelChanged.connect(lambda _label: self.model.set_active(c.loaded_path))
        c.errorRaised.connect(self.banner.show_error)
        c.variantMade.connect(lambda path: self.banner.show_info(
            f"Made {Path(path).name}. Evaluate it to see what it costs."))
        c.evaluationFinished.connect(self._on_evaluated)
        c.pruneFinished.connect(self._on_pruned)
        c.comparisonReady.connect(self._show_comparison)
        self._on_selection()

    # -- selection -------------------------------------------------------------
    def selected_entry(self):
        rows = self.table.selectionModel().selectedRows()
        return self.model.entry(rows[0].row()) if rows else None

    def select_path(self, path: str) -> None:
        row = self.model.row_of(path)
        if row is not None:
            self.table.selectRow(row)

    def _on_selection(self, *_args) -> None:
        entry = self.selected_entry()
        usable = entry is not None and entry.info is not None
        for button in self.model_buttons:
            button.setEnabled(usable)
        self.details.setHtml(self._details_html(entry) if entry is not None else "")

    def _on_catalog(self, entries: list) -> None:
        self.guide.setText(better_model_guidance(entries, self.controller.loaded_path))
        self.guide.setVisible(bool(self.guide.text()))
        selected = self.selected_entry()
        self.model.set_entries(entries)
        self.model.set_active(self.controller.loaded_path)
        if selected is not None:
            self.select_path(str(selected.path))
        elif entries:
            self.table.selectRow(0)
        self._on_selection()

    def _details_html(self, entry) -> str:
        info = entry.info
        name = html.escape(Path(entry.path).name)
        if info is None:
            return (f"<h3>{name}</h3><p style='color:#b3261e'>This file cannot be used: "
                    f"{html.escape(str(entry.error))}</p><p>{html.escape(str(entry.path))}</p>")
        rows = [("Architecture", info.architecture), ("Parameters", human_count(info.parameter_count)),
                ("Quantization", info.quantization), ("Layers", info.layer_count),
                ("Context length", info.context_length), ("Embedding size", info.embedding_length),
                ("Chat template", "yes" if info.chat_template else "no (plain completion prompt)"),
                ("File size", human_size(info.file_size)),
                ("Tensor types", ", ".join(f"{k} × {v}" for k, v in sorted(info.tensor_types.items())))]
        lineage = info.lineage or {}
        if lineage.get("method"):
            settings = lineage.get("settings") or {}
            rows += [("Made by", f"{lineage['method'].capitalize()} of {lineage.get('parent_name', '?')}"),
                     ("How", settings_in_words(lineage["method"], settings)),
                     ("Created", format_when(lineage.get("created")))]
            if settings.get("warning"):
                rows.append(("Note", str(settings["warning"]).capitalize() + "."))
        from desktop_app.ui.model_fit import detail_rows

        rows += detail_rows(entry, self.controller.services.settings)
        evaluation = lineage.get("evaluation") or {}
        if evaluation:
            latest = sorted(evaluation.values(), key=lambda e: e.get("created", ""))[-1]
            rows.append(("Perplexity", f"{latest.get('perplexity', 0):.2f}"))
            if latest.get("kl_mean") is not None:
                rows.append(("KL from parent", f"{latest['kl_mean']:.4f}"))
            if latest.get("gen_tokens_per_s"):
                rows.append(("Generation", f"{latest['gen_tokens_per_s']:.1f} tokens/s"))
        body = "".join(f"<tr><td style='padding-right:12px'><b>{html.escape(str(k))}</b></td>"
                       f"<td>{html.escape(str(v if v is not None else '—'))}</td></tr>" for k, v in rows)
        title = html.escape(Path(entry.path).name if lineage.get("method")
                            else (info.name or Path(entry.path).stem))
        return (f"<h3>{title}</h3><p style='color:gray'>{html.escape(str(entry.path))}</p>"
                f"<table>{body}</table>")

    # -- actions -----------------------------------------------------------------
    def choose_model_file(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add models", str(Path.home()), "GGUF models (*.gguf);;All files (*)")
        if files:
            self.controller.add_models(files)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.controller.add_models(paths)

    def use_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.info is not None:
            self.controller.load_active(str(entry.path))

    def quantize_selected(self):
        from desktop_app.ui.pages.model_dialogs import QuantizeDialog

        entry = self.selected_entry()
        if entry is None or entry.info is None:
            return None
        dialog = QuantizeDialog(entry, self.controller.services.paths.models_dir, self,
                                library_passages=self.controller.library_passages)
        if not dialog.exec():
            return None
        return self.start_quantize(entry, **dialog.values())

    def start_quantize(self, entry, *, qtype: str, out: str, from_f16: bool = False,
                       allow_requant: bool = False, calibration=None):
        if not out:
            self.banner.show_error("Choose a file name for the quantized model.")
            return None
        return self.controller.quantize(str(entry.path), out, qtype, from_f16=from_f16,
                                        allow_requant=allow_requant, calibration=calibration)

    def fit_selected(self):
        """Open the Fit to size dialog for the selected model (not blocking:
        its search and build run as jobs while it is open)."""
        from desktop_app.ui.pages.fit_dialog import FitDialog

        entry = self.selected_entry()
        if entry is None or entry.info is None:
            return None
        if self.fit_dialog is not None:
            self.fit_dialog.reject()
            self.fit_dialog.deleteLater()
        self.fit_dialog = FitDialog(entry, self.controller,
                                    context_length=self.controller.services.settings.context_length,
                                    library_passages=self.controller.library_passages, parent=self)
        self.fit_dialog.open()
        return self.fit_dialog

    def prune_selected(self):
        from desktop_app.ui.pages.model_dialogs import PruneDialog

        entry = self.selected_entry()
        if entry is None or entry.info is None:
            return None
        dialog = PruneDialog(entry, self.controller.services.paths.models_dir, self)
        if not dialog.exec():
            return None
        values = dialog.values()
        return self.controller.prune(str(entry.path), values["out"], values["remove"])

    def evaluate_selected(self):
        from desktop_app.ui.pages.model_dialogs import EvaluateDialog

        entry = self.selected_entry()
        if entry is None or entry.info is None:
            return None
        dialog = EvaluateDialog(entry, (entry.info.lineage or {}).get("parent"), self)
        if not dialog.exec():
            return None
        values = dialog.values()
        return self.controller.evaluate(str(entry.path), parent=values["parent"],
                                        max_windows=values["max_windows"])

    def compare_selected(self):
        entry = self.selected_entry()
        if entry is None:
            return None
        return self.controller.compare(str(entry.path))

    def _on_evaluated(self, evaluation) -> None:
        ppl = getattr(evaluation, "perplexity", None)
        name = Path(getattr(evaluation, "model", "")).name
        extra = ""
        if getattr(evaluation, "kl_mean", None) is not None:
            extra = f", KL from its parent {evaluation.kl_mean:.4f}"
        self.banner.show_info(f"Evaluated {name}: perplexity {ppl:.2f}{extra}.")
        self.compare_selected()

    def _on_pruned(self, result) -> None:
        ranking = sorted(getattr(result, "ranking", []) or [], key=lambda s: s.rank)
        ranked = ", ".join(f"block {s.layer} ({s.influence:.3f})" for s in ranking[:6])
        removed = ", ".join(str(n) for n in getattr(result, "removed_layers", []))
        self.banner.show_info(
            f"Made {Path(result.path).name}: removed block{'s' if ',' in removed else ''} {removed} "
            f"({human_size(result.source_size)} → {human_size(result.file_size)}). "
            f"Least important first: {ranked}. Evaluate it to see what it costs.")

    def _show_comparison(self, rows: list, _png: str) -> None:
        self.compare_table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, (key, _label) in enumerate(COMPARE_COLUMNS):
                item = QTableWidgetItem(_fmt(key, row.get(key)))
                if c:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.compare_table.setItem(r, c, item)
        # As tall as its rows (up to five), the chart takes the rest.
        header = self.compare_table.horizontalHeader().sizeHint().height()
        row_height = self.compare_table.verticalHeader().defaultSectionSize()
        self.compare_table.setFixedHeight(header + row_height * min(5, max(1, len(rows))) + 4)
        self.chart.set_rows(rows)
        family = rows[0]["name"] if rows else ""
        self.compare_title.setText(f"Comparison of the variants of {family}" if family
                                   else "Comparison")
        self.compare_area.show()
