"""Owns the model catalog and the model workshop's jobs: listing, adding,
loading the active model (on the "llm" lane, the model's one owner),
quantizing, pruning, evaluating and comparing variants."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal

from desktop_app.core.jobs import Progress
from desktop_app.ui.workers import Job, JobManager

log = logging.getLogger(__name__)


def model_label(info) -> str:
    """A short name for the status bar from a session's or catalog's info."""
    if info is None:
        return "not loaded"
    for attr in ("label", "name"):
        value = getattr(info, attr, None)
        if isinstance(value, str) and value:
            path = getattr(info, "path", None)
            quant = getattr(info, "quantization", None)
            if attr == "name" and quant:
                return f"{value} ({quant})"
            return value
    path = getattr(info, "path", None)
    return Path(path).name if path else str(info)


class ModelsController(QObject):
    catalogChanged = Signal(object)        # [CatalogEntry]
    catalogFailed = Signal(str)
    modelChanged = Signal(object)        # display label (str) or None
    loadFailed = Signal(str)
    variantMade = Signal(str)            # path of a new quantized/pruned/fitted model
    pruneFinished = Signal(object)       # PruneResult (with the layer ranking)
    evaluationFinished = Signal(object)  # Evaluation
    comparisonReady = Signal(object, str)  # rows, chart PNG path ("" if none)
    errorRaised = Signal(str)

    def __init__(self, services, jobs: JobManager, parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.services = services
        self.jobs = jobs
        self.entries: list = []
        self.loaded_path: Optional[str] = None
        self.loaded_label: Optional[str] = None
        self._load_job: Optional[Job] = None
        self.library_passages = 0           # passages indexed, as the library's last status said

    def note_library_status(self, status: dict) -> None:
        """Keep the library's passage count: library calibration is offered only with passages."""
        self.library_passages = int((status.get("totals") or {}).get("chunks") or 0)

    # -- catalog ---------------------------------------------------------------
    def refresh_catalog(self) -> Job:
        catalog = lambda: self.services.catalog  # noqa: E731 (built on the worker)

        def list_job(*, token, report):
            from desktop_app.core.llm.native import backend

            entries = catalog().list(token=token, report=report)
            try:
                backend()   # asked here, off the GUI thread, for the details pane's GPU line
            except Exception as exc:  # noqa: BLE001 - the list is what the job is for
                log.warning("cannot ask llama.cpp about GPU support: %s", exc)
            return entries

        job = self.jobs.start("Listing models", list_job, lane="work", kind="catalog", quiet=True)
        job.finished.connect(self._on_catalog)
        job.failed.connect(self.catalogFailed)
        return job

    def _on_catalog(self, entries) -> None:
        self.entries = list(entries)
        self.catalogChanged.emit(self.entries)

    def add_models(self, paths: list[str]) -> Job:
        def add_job(*, token, report):
            added, errors = [], []
            for i, path in enumerate(paths):
                token.check()
                report(Progress("adding", i, len(paths), Path(path).name))
                try:
                    added.append(self.services.catalog.add(path))
                except Exception as exc:  # each bad file is a message, the rest go on
                    errors.append(f"{Path(path).name}: {exc}")
            return added, errors

        job = self.jobs.start("Adding models", add_job, lane="work", kind="catalog-add")
        job.finished.connect(self._after_add)
        job.failed.connect(self.errorRaised)
        return job

    def _after_add(self, result) -> None:
        _added, errors = result
        if errors:
            self.errorRaised.emit("Not added: " + "; ".join(errors))
        self.refresh_catalog()

    # -- the active model --------------------------------------------------------
    def load_active(self, path: Optional[str] = None) -> Job:
        """Load ``path`` (or the model from settings, or the default) for chat."""
        if self._load_job is not None and self._load_job.running:
            self._load_job.cancel()
        wanted = path or self.services.settings.model_path
        name = Path(wanted).name if wanted else "the default model"

        def load_job(*, token, report):
            llm = self.services.llm
            info = llm.load(wanted, token=token, report=report)
            return wanted, info

        job = self.jobs.start(f"Loading {name}", load_job, lane="llm", kind="model-load")
        self._load_job = job
        job.finished.connect(lambda result: self._on_loaded(result, explicit=path is not None))
        job.failed.connect(self._on_load_failed)
        return job

    def _on_loaded(self, result, *, explicit: bool) -> None:
        wanted, info = result
        self.loaded_path = str(getattr(info, "path", wanted) or wanted or "")
        self.loaded_label = model_label(info)
        if explicit and wanted:
            self.services.settings.model_path = str(wanted)
            try:
                self.services.save_settings()
            except Exception as exc:  # the model is loaded; only remembering failed
                self.errorRaised.emit(f"Could not remember the active model: {exc}")
        self.modelChanged.emit(self.loaded_label)

    def _on_load_failed(self, message: str) -> None:
        self.loadFailed.emit(message)
        self.errorRaised.emit(f"The model could not be loaded: {message}")
        # The session keeps (or reloads) the model it had: show that one.
        still = self.services.llm.loaded
        if still is not None:
            self.loaded_path = str(still.path)
            self.loaded_label = model_label(still)
            self.modelChanged.emit(self.loaded_label)

    # -- workshop ------------------------------------------------------------------
    def quantize(self, src: str, out: str, qtype: str, *, from_f16: bool = False,
                 allow_requant: bool = False, calibration: Optional[str] = None) -> Job:
        """The same workflow as `hearth model quantize`: low-bit K types are
        calibrated with an importance matrix on the bundled text, or on
        passages of the user's library with ``calibration="library"``."""
        services = self.services

        def quantize_job(*, token, report):
            from desktop_app.core.llm.calibration import LIBRARY
            from desktop_app.core.llm.workflows import quantize_variant

            services.ensure_safe_loading()
            library = services.library if calibration == LIBRARY else None
            return quantize_variant(src, out, qtype, from_f16=from_f16, allow_requant=allow_requant,
                                    calibration_text=calibration, library=library,
                                    token=token, report=report, catalog=services.catalog)

        job = self.jobs.start(f"Quantizing {Path(src).name} to {qtype}", quantize_job,
                              lane="work", kind="quantize", unit="tensors")
        job.finished.connect(lambda _r: self._variant_made(out))
        job.failed.connect(lambda m: self.errorRaised.emit(f"Quantizing failed: {m}"))
        return job

    def prune(self, src: str, out: str, remove_layers, **options) -> Job:
        catalog = lambda: self.services.catalog  # noqa: E731

        def prune_job(*, token, report):
            from desktop_app.core.llm.workflows import prune_variant

            self.services.ensure_safe_loading()
            return prune_variant(src, out, remove_layers, token=token, report=report, catalog=catalog(),
                                 **options)

        job = self.jobs.start(f"Pruning {Path(src).name}", prune_job, lane="work", kind="prune")
        job.finished.connect(lambda _r: self._variant_made(out))
        job.finished.connect(self.pruneFinished)  # after: its message has the ranking
        job.failed.connect(lambda m: self.errorRaised.emit(f"Pruning failed: {m}"))
        return job

    def fit_search(self, src: str, budget, *, calibration: Optional[str] = None, from_f16: bool = False,
                   presets: tuple = (), windows: int = 4, max_steps: int = 12, prune_layers: int = 0) -> Job:
        """The search of `hearth model fit`: candidates measured within
        ``budget`` (a fit.Budget); the job's result is the FitSearch."""
        services = self.services

        def search_job(*, token, report):
            from desktop_app.core.llm.calibration import LIBRARY
            from desktop_app.core.llm.fit import search_fit

            services.ensure_safe_loading()
            library = services.library if calibration == LIBRARY else None
            return search_fit(src, budget, work_in=services.paths.models_dir, text=calibration, library=library,
                              from_f16=from_f16, presets=tuple(presets), windows=windows, max_steps=max_steps,
                              prune_layers=prune_layers, token=token, report=report)

        return self.jobs.start(f"Fitting {Path(src).name} to {budget.file_bytes / 1e6:,.0f} MB", search_job,
                               lane="work", kind="fit-search")

    def fit_build(self, search, candidate, out: str, *, evaluate_windows: int = 8) -> Job:
        """Build ``candidate`` of ``search`` at ``out`` with lineage, and evaluate it."""
        catalog = lambda: self.services.catalog  # noqa: E731

        def build_job(*, token, report):
            from desktop_app.core.llm.fit import build_fit

            self.services.ensure_safe_loading()
            return build_fit(search, candidate, out, evaluate_windows=evaluate_windows, token=token,
                             report=report, catalog=catalog())

        job = self.jobs.start(f"Building {Path(out).name}", build_job, lane="work", kind="fit-build",
                              unit="tensors")
        job.finished.connect(lambda _r: self._variant_made(out))
        job.failed.connect(lambda m: self.errorRaised.emit(f"Building the fitted model failed: {m}"))
        return job

    def _variant_made(self, out: str) -> None:
        self.variantMade.emit(out)
        self.refresh_catalog()

    def evaluate(self, path: str, *, parent: Optional[str] = None, **options) -> Job:
        def evaluate_job(*, token, report):
            from desktop_app.core.llm.workflows import evaluate_variant

            self.services.ensure_safe_loading()
            return evaluate_variant(path, parent=parent, token=token, report=report, **options)

        job = self.jobs.start(f"Evaluating {Path(path).name}", evaluate_job, lane="work",
                              kind="evaluate")
        job.finished.connect(self.evaluationFinished)
        job.finished.connect(lambda _r: self.refresh_catalog())
        job.failed.connect(lambda m: self.errorRaised.emit(f"Evaluation failed: {m}"))
        return job

    def compare(self, path: str) -> Job:
        """Every variant in ``path``'s family, from their stored evaluations."""
        catalog = lambda: self.services.catalog  # noqa: E731

        def compare_job(*, token, report):
            from desktop_app.core.llm.optimize import evaluate as ev

            root = catalog().variants_of(path)
            paths = [str(node.path) for node in root.walk() if Path(node.path).exists()]
            return ev.compare(paths)

        job = self.jobs.start("Comparing variants", compare_job, lane="work", kind="compare",
                              quiet=True)
        job.finished.connect(lambda rows: self.comparisonReady.emit(list(rows), ""))
        job.failed.connect(lambda m: self.errorRaised.emit(f"Comparison failed: {m}"))
        return job
