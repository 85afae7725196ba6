"""Quantize and Prune dialogs: each choice shows what it means (expected
size, typical quality cost) before anything runs."""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QLabel, QRadioButton,
                               QLineEdit, QListWidget, QListWidgetItem, QSpinBox, QVBoxLayout,
                               QWidget)

from desktop_app.ui.qtmodels.catalog import human_size

log = logging.getLogger(__name__)


def variant_path(models_dir: Path, src: Path, suffix: str) -> Path:
    stem = src.stem
    candidate = models_dir / f"{stem}-{suffix}.gguf"
    n = 2
    while candidate.exists():
        candidate = models_dir / f"{stem}-{suffix}-{n}.gguf"
        n += 1
    return candidate


def nominal_bits(ggml_type: str) -> float:
    """Bits per weight of a ggml type's blocks (Q4_K: 4.5)."""
    try:
        import gguf

        for t, (block, size) in gguf.GGML_QUANT_SIZES.items():
            if t.name == ggml_type:
                return size * 8 / block
    except Exception:  # advice only
        pass
    return 0.0


def token_table_share(info) -> float:
    """The token-embedding table's share of the model's weights."""
    if info is None or not info.parameter_count:
        return 0.0
    table = sum(t.n_elements for t in info.tensors if t.name == "token_embd.weight")
    return table / info.parameter_count


class QuantizeDialog(QDialog):
    def __init__(self, entry, models_dir: Path, parent: Optional[QWidget] = None, *,
                 library_passages: int = 0) -> None:
        super().__init__(parent)
        from desktop_app.core.llm.optimize.quantize import QUANT_TYPES

        self.entry = entry
        self.models_dir = Path(models_dir)
        self.setWindowTitle(f"Quantize {Path(entry.path).name}")
        info = entry.info
        self.is_quantized = bool(info is not None and info.is_quantized)

        intro = QLabel(
            "Quantizing stores the model's weights with fewer bits: the file gets smaller and "
            "generation faster, at some cost in quality. Fewer bits cost more quality, and "
            "small models lose more than the published figures for 8B models.")
        intro.setWordWrap(True)
        self.estimates: dict = {}
        self.types = QListWidget()
        self.types.setAccessibleName("Quantization type")
        for name, qt in QUANT_TYPES.items():
            try:
                from desktop_app.core.llm.optimize.quantize import estimate

                est = estimate(entry.path, name, info)
                size = f"≈ {human_size(est.bytes)} ({est.bits_per_weight:.1f} bits/weight)"
                if info is not None and info.file_size and est.bytes > info.file_size:
                    size += ", larger than now"
                self.estimates[name] = est
            except Exception as exc:  # an estimate is advice; the list still works
                log.debug("no estimate for %s: %s", name, exc)
                size = "size unknown"
            item = QListWidgetItem(f"{name}  —  {size}")
            item.setData(Qt.UserRole, name)
            item.setToolTip(qt.note)
            self.types.addItem(item)
        self.types.currentItemChanged.connect(self._on_type)
        self.explain = QLabel()
        self.explain.setWordWrap(True)
        self.explain.setObjectName("info")
        self.output = QLineEdit()
        self.output.setAccessibleName("Output file")
        # The importance matrix's text: the bundled one, or passages of the
        # user's library (their own domain), offered once it has passages.
        self.calibration = QComboBox()
        self.calibration.setAccessibleName("Importance matrix calibration")
        self.calibration.setAccessibleDescription(
            "The text the importance matrix is computed on, for the low-bit K types")
        self.calibration.addItem("Hearth's bundled text", None)
        self.calibration.addItem(f"Your library ({library_passages:,} passages)" if library_passages
                                 else "Your library (no passages indexed yet)", "library")
        self.calibration.model().item(1).setEnabled(bool(library_passages))
        self.calibration.currentIndexChanged.connect(lambda _i: self._on_type(self.types.currentItem()))
        # One or the other, never both: radio buttons.
        self.from_f16 = QRadioButton("Convert to F16 first, then quantize (recommended)")
        self.allow_requant = QRadioButton("Quantize the quantized file directly (quality loss compounds)")
        self.requant_choice = QButtonGroup(self)
        self.requant_choice.addButton(self.from_f16)
        self.requant_choice.addButton(self.allow_requant)
        warning = QLabel(
            f"⚠ This model is already quantized ({html.escape(info.quantization)}). Quantizing it "
            "again adds a second loss on top of the first. Converting to F16 first keeps "
            "llama.cpp's choices sane but does not recover what was lost.") if self.is_quantized \
            else QLabel()
        warning.setWordWrap(True)
        self.from_f16.setChecked(True)

        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Quantize")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Calibration", self.calibration)
        form.addRow("Save as", self.output)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.types, 1)
        layout.addWidget(self.explain)
        layout.addWidget(warning)
        layout.addWidget(self.from_f16)
        layout.addWidget(self.allow_requant)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        for widget in (warning, self.from_f16, self.allow_requant):
            widget.setVisible(self.is_quantized)  # parented by now: no stray windows
        self.resize(640, 560)
        default = "Q8_0" if self.is_quantized else "Q4_K_M"
        for row in range(self.types.count()):
            if self.types.item(row).data(Qt.UserRole) == default:
                self.types.setCurrentRow(row)

    @property
    def qtype(self) -> str:
        item = self.types.currentItem()
        return item.data(Qt.UserRole) if item else "Q8_0"

    def _on_type(self, item, _previous=None) -> None:
        if item is None:
            return
        from desktop_app.core.llm.optimize.quantize import QUANT_TYPES

        name = item.data(Qt.UserRole)
        size = item.text().split("—", 1)[-1].strip()
        current = human_size(self.entry.info.file_size) if self.entry.info else "?"
        text = (f"<b>{name}</b>: expected size {html.escape(size)} (now {current}).<br/>"
                f"Typical quality cost: {html.escape(QUANT_TYPES[name].note)}.")
        est = self.estimates.get(name)
        info = self.entry.info
        if est is not None and info is not None and info.file_size and est.bytes > info.file_size:
            text += (f"<br/>⚠ <b>The file grows</b> ({human_size(est.bytes)} instead of {current}): "
                     f"this model is already stored with fewer bits ({html.escape(info.quantization or '?')}). "
                     "More bits cannot bring back what the first quantization lost.")
        nominal = nominal_bits(QUANT_TYPES[name].base)
        if est is not None and nominal and est.bits_per_weight > nominal + 1:
            share = token_table_share(info)
            text += (f"<br/>{est.bits_per_weight:.1f} bits/weight overall although {name} stores "
                     f"most weights in about {nominal:.1f}: llama.cpp keeps the output matrix "
                     f"{'(here the token table, ' + format(share, '.0%') + ' of the weights) ' if share else ''}"
                     "at 6-8 bits, so low-bit types save less on this model than their name suggests.")
        from desktop_app.core.llm.optimize.quantize import IMATRIX_DEFAULT_TYPES

        if name in IMATRIX_DEFAULT_TYPES:
            text += (f"<br/>{name} is calibrated with an importance matrix computed on "
                     f"{'passages of your library' if self.calibration.currentData() else 'Hearth’s bundled text'}.")
        else:
            text += f"<br/>{name} needs no calibration text."
        self.explain.setText(text)
        self.output.setText(str(variant_path(self.models_dir, Path(self.entry.path), name)))

    def values(self) -> dict:
        return {"qtype": self.qtype, "out": self.output.text().strip(),
                "calibration": self.calibration.currentData(),
                "from_f16": self.is_quantized and self.from_f16.isChecked(),
                "allow_requant": self.is_quantized and self.allow_requant.isChecked()}


# Shares of blocks removed up to which the quality cost is "small to
# moderate" and "large" (the thresholds the dialog has always shown).
SMALL_COST_SHARE = 0.06
LARGE_COST_SHARE = 0.15


class PruneDialog(QDialog):
    """Remove the N transformer blocks that matter least."""

    def __init__(self, entry, models_dir: Path, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.models_dir = Path(models_dir)
        info = entry.info
        self.layers = int(info.layer_count or 0) if info else 0
        self.setWindowTitle(f"Prune {Path(entry.path).name}")
        intro = QLabel(
            f"Pruning removes whole transformer blocks (this model has {self.layers}). Hearth "
            "first measures on calibration text how little each block changes the model's "
            "output, then removes the least important ones. The file shrinks and generation "
            "speeds up roughly in proportion; quality drops quickly beyond one or two blocks "
            "on a small model. Evaluate the result before using it for chat.")
        intro.setWordWrap(True)
        self.count = QSpinBox()
        self.count.setRange(1, max(1, self.layers - 1))
        self.count.setValue(1)
        self.count.setAccessibleName("Blocks to remove")
        self.count.valueChanged.connect(self._update)
        self.explain = QLabel()
        self.explain.setObjectName("info")
        self.explain.setWordWrap(True)
        self.output = QLineEdit()
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Prune")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.buttons.button(QDialogButtonBox.Ok).setEnabled(self.layers > 1)
        form = QFormLayout()
        form.addRow("Blocks to remove", self.count)
        form.addRow("Save as", self.output)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.explain)
        layout.addWidget(self.buttons)
        self.resize(560, 320)
        self._update()

    def _output_bytes(self) -> int:
        info = self.entry.info
        names = {t.name: t for t in info.tensors}
        head = names.get("output.weight") or names.get("token_embd.weight")
        return head.n_bytes if head is not None else 0

    def _block_bytes(self) -> tuple[int, int]:
        info = self.entry.info
        blocks = sum(t.n_bytes for t in info.tensors if t.name.startswith("blk."))
        return blocks, info.file_size

    def _update(self) -> None:
        n = self.count.value()
        if self.layers:
            blocks, total = self._block_bytes()
            after = total - blocks * n / self.layers
            share = n / self.layers
            cost = ("small to moderate" if share <= SMALL_COST_SHARE else "large" if share <= LARGE_COST_SHARE
                    else "severe: the model may stop producing sensible text")
            # Each token still runs the output matrix (the token table on
            # tied models), which pruning does not shrink: the speed-up is
            # bounded by it, not 1 / (1 - share).
            head = self._output_bytes()
            speedup = (blocks + head) / max(1, blocks * (1 - share) + head)
            text = (f"Removes {n} of {self.layers} blocks ({share:.0%}). Expected size ≈ "
                    f"{human_size(int(after))} (now {human_size(total)}); expected speed-up ≈ "
                    f"{speedup:.2f}×. Expected quality cost: {cost}.")
            sane = max(1, int(self.layers * LARGE_COST_SHARE))
            if n > sane:
                text += (f"<br/>⚠ Beyond {sane} block{'s' if sane != 1 else ''} the quality cost has not been "
                         "measured for small models and the result is most likely unusable; "
                         "evaluate it before chatting with it.")
            self.explain.setText(text)
        self.output.setText(str(variant_path(self.models_dir, Path(self.entry.path),
                                             f"pruned{n}")))

    def values(self) -> dict:
        return {"remove": self.count.value(), "out": self.output.text().strip()}


# (label, windows of EVAL_CONTEXT tokens scored, what the choice means)
EVALUATION_DEPTHS = (
    ("Quick", 4, "a rough figure: differences under about 5% between variants are noise"),
    ("Standard", 16, "steady enough to rank variants of one model"),
    ("Thorough", 32, "the most stable figure; twice as long as Standard"),
)
EVAL_CONTEXT = 512  # tokens per window, as evaluate() scores them by default


class EvaluateDialog(QDialog):
    """What evaluating measures, and how long a look to take."""

    def __init__(self, entry, parent_model: Optional[str] = None,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.parent_model = parent_model if parent_model and Path(parent_model).exists() else None
        self.setWindowTitle(f"Evaluate {Path(entry.path).name}")
        compared = (f"It is also compared with the model it was made from "
                    f"({html.escape(Path(self.parent_model).name)}): the KL divergence and how "
                    f"often both pick the same next word say how much the change cost."
                    if self.parent_model else
                    "This model has no recorded parent here, so only its own perplexity is "
                    "measured (lower is better; compare it with other variants of the same "
                    "model, not across models).")
        intro = QLabel(
            "Evaluating scores how well the model predicts Hearth's bundled evaluation text "
            f"(perplexity), and measures its speed and memory in a separate process. {compared}")
        intro.setWordWrap(True)
        self.depths = QListWidget()
        self.depths.setAccessibleName("How thorough")
        for label, windows, _meaning in EVALUATION_DEPTHS:
            item = QListWidgetItem(f"{label}  —  {windows} passages of {EVAL_CONTEXT} tokens")
            item.setData(Qt.UserRole, windows)
            self.depths.addItem(item)
        self.depths.currentRowChanged.connect(self._update)
        self.explain = QLabel()
        self.explain.setObjectName("info")
        self.explain.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Evaluate")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.depths)
        layout.addWidget(self.explain)
        layout.addWidget(self.buttons)
        self.resize(560, 360)
        self.depths.setCurrentRow(1)

    @property
    def max_windows(self) -> int:
        item = self.depths.currentItem()
        return int(item.data(Qt.UserRole)) if item else EVALUATION_DEPTHS[1][1]

    def _update(self, row: int) -> None:
        if row < 0:
            return
        label, windows, meaning = EVALUATION_DEPTHS[row]
        runs = "both models" if self.parent_model else "the model"
        self.explain.setText(
            f"<b>{label}</b>: scores {windows * EVAL_CONTEXT:,} tokens with {runs}; "
            f"{html.escape(meaning)}. The result is kept with the model file and shown in "
            "the comparison.")

    def values(self) -> dict:
        return {"max_windows": self.max_windows, "parent": self.parent_model}
