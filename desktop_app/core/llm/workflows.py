"""The model workshop's workflows, one core function each, called alike by
the CLI (``hearth model ...``) and the window (ui/controllers/models.py):
check that a model fits, quantize with its calibration, prune, evaluate.

Each returns a typed result (a frozen dataclass) and records lineage in one
place, so the window cannot drift from the CLI again (it once
quantized without the importance matrix the CLI used, and wrote lineage of
its own).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from desktop_app.core.jobs import CancelToken, Report, ignore_progress
from desktop_app.core.llm.calibration import LIBRARY
from desktop_app.core.llm.gguf_header import ModelInfo
from desktop_app.core.llm.lineage import lineage_record, read_sidecar, sidecar_path, write_sidecar
from desktop_app.core.llm.memory import FitCheck, check_fit

log = logging.getLogger(__name__)


# --- will it fit --------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelFit:
    check: FitCheck
    gpu_layers: int          # as set by the user
    gpu_offload: bool        # the installed llama.cpp can offload layers
    gpu_note: str            # one sentence on what the GPU setting does here


def fit_check(info: ModelInfo, n_ctx: int, settings, *, available: Optional[int] = None,
              already_loaded: int = 0) -> ModelFit:
    """Memory needed by ``info`` at ``n_ctx`` with the user's GPU setting,
    against free memory, with a context proposal when it does not fit."""
    from desktop_app.core.llm.native import backend

    build = backend()
    layers = int(getattr(settings, "gpu_layers", 0))
    check = check_fit(info, n_ctx, available=available, already_loaded=already_loaded,
                      gpu_layers=layers, gpu_offload=build.gpu_offload)
    if not build.gpu_offload:
        note = "CPU only: this llama-cpp-python was built without a GPU backend" + (
            f" (the setting of {layers} GPU layers has no effect)" if layers else "")
    elif layers:
        note = f"{check.estimate.gpu_layers} of the model's layers on the GPU (setting: {layers})"
    else:
        note = "a GPU build; set GPU layers in Settings to use it"
    return ModelFit(check, layers, build.gpu_offload, note)


# --- quantize -------------------------------------------------------------------------------

def quantize_variant(src: os.PathLike | str, out: os.PathLike | str, qtype: str, *, from_f16: bool = False,
                     allow_requant: bool = False, imatrix: Optional[os.PathLike | str] = None,
                     calibration_text: Optional[os.PathLike | str] = None, use_imatrix: Optional[bool] = None,
                     chunks: Optional[int] = None, keep_imatrix: bool = False, threads: int = 0,
                     token: Optional[CancelToken] = None, report: Report = ignore_progress, catalog=None,
                     library=None):
    """Quantize ``src`` to ``qtype`` with the calibration the type calls for
    (an importance matrix for low-bit K types, as ``quantize_calibrated``
    decides). ``from_f16``: the source is quantized, so convert it to F16
    first (a hidden temporary, removed whatever happens) and quantize from
    that; the lineage still names ``src`` as the parent.
    ``calibration_text="library"``: passages sampled from ``library`` (the
    user's documents) rather than a text file. Returns the QuantizeResult whose
    lineage is what the sidecar holds."""
    token = token or CancelToken()
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().absolute()
    if str(calibration_text) != LIBRARY:
        return _quantize_variant(src, out, qtype, from_f16=from_f16, allow_requant=allow_requant, imatrix=imatrix,
                                 calibration_text=calibration_text, use_imatrix=use_imatrix, chunks=chunks,
                                 keep_imatrix=keep_imatrix, threads=threads, token=token, report=report,
                                 catalog=catalog)
    cal = _library_text(library)
    text_file = out.with_name(f".{out.name}.library-passages.txt")
    try:
        text_file.write_text(cal.calibration, encoding="utf-8")
        result = _quantize_variant(src, out, qtype, from_f16=from_f16, allow_requant=allow_requant, imatrix=None,
                                   calibration_text=text_file, use_imatrix=use_imatrix, chunks=chunks,
                                   keep_imatrix=keep_imatrix, threads=threads, token=token, report=report,
                                   catalog=catalog)
    finally:
        text_file.unlink(missing_ok=True)
    lineage = dict(result.lineage or {})
    settings = dict(lineage.get("settings", {}))
    if "calibration" in settings:
        # name the library, not the temporary file the passages went through
        windows = settings["calibration"].split(" (", 1)[1] if " (" in settings["calibration"] else ""
        settings["calibration"] = f"{cal.note}" + (f", {windows.rstrip(')')}" if windows else "")
        settings["calibration_source"] = LIBRARY
        lineage = write_sidecar(out, {"settings": settings})
    from dataclasses import replace

    return replace(result, lineage=lineage)


def _library_text(library):
    from desktop_app.core.llm.calibration import CalibrationError, library_calibration
    from desktop_app.core.llm.optimize.quantize import QuantizeError

    if library is None:
        raise QuantizeError("calibrating on your library needs the library (none was given)")
    try:
        return library_calibration(library)
    except CalibrationError as exc:
        raise QuantizeError(str(exc)) from None


def _quantize_variant(src: Path, out: Path, qtype: str, *, from_f16: bool, allow_requant: bool, imatrix,
                      calibration_text, use_imatrix, chunks, keep_imatrix, threads, token, report, catalog):
    from desktop_app.core.llm.optimize.quantize import QuantizeResult, dequantize, quantize_calibrated

    options = dict(imatrix=imatrix, calibration_text=calibration_text, use_imatrix=use_imatrix, chunks=chunks,
                   keep_imatrix=keep_imatrix, threads=threads, token=token, report=report)
    if not from_f16:
        return quantize_calibrated(src, out, qtype, allow_requant=allow_requant, catalog=catalog, **options)
    f16 = out.with_name(f".{out.stem}.f16-tmp.gguf")
    try:
        source_type = dequantize(src, f16, "F16", token=token, report=report).lineage.get(
            "settings", {}).get("source_type")
        result = quantize_calibrated(f16, out, qtype, **options)
    finally:
        f16.unlink(missing_ok=True)
        sidecar_path(f16).unlink(missing_ok=True)
    settings = dict((result.lineage or {}).get("settings", {}))
    settings.update({"via": "F16", "source_type": source_type or "quantized"})
    settings["warning"] = (f"made from a {source_type or 'quantized'} model converted to F16: "
                           "its earlier quantization loss is included")
    lineage = write_sidecar(out, lineage_record(src, "quantize", settings))
    if catalog is not None:
        catalog.add(out)
    return QuantizeResult(result.path, src, result.qtype, result.file_size, result.seconds, False,
                          result.imatrix, lineage)


# --- prune -------------------------------------------------------------------------------------

def prune_variant(src: os.PathLike | str, out: os.PathLike | str, remove_layers: Union[int, Sequence[int]], *,
                  calibration_text: Optional[os.PathLike | str] = None, token: Optional[CancelToken] = None,
                  report: Report = ignore_progress, catalog=None, library=None, **options):
    """Remove transformer blocks (ranked on ``calibration_text`` when a count
    is given; "library": on passages of the user's library); returns the
    PruneResult with the ranking."""
    from desktop_app.core.llm.optimize.prune import PruneError, prune

    if str(calibration_text) == LIBRARY:
        from desktop_app.core.llm.calibration import CalibrationError, library_calibration

        if library is None:
            raise PruneError("ranking layers on your library needs the library (none was given)")
        try:
            calibration_text = library_calibration(library).calibration
        except CalibrationError as exc:
            raise PruneError(str(exc)) from None

    return prune(src, out, remove_layers, calibration_text=calibration_text, token=token, report=report,
                 catalog=catalog, **options)


# --- evaluate ------------------------------------------------------------------------------------

def recorded_parent(path: os.PathLike | str) -> Optional[Path]:
    """The model a Hearth variant was made from, if it is still there."""
    parent = (read_sidecar(path) or {}).get("parent")
    return Path(parent) if parent and Path(parent).is_file() else None


_RECORDED = "recorded"


def evaluate_variant(path: os.PathLike | str, *, parent: Union[os.PathLike, str, None] = _RECORDED,
                     text: Optional[os.PathLike | str] = None, token: Optional[CancelToken] = None,
                     report: Report = ignore_progress, **options):
    """Perplexity, speed, memory and (with a parent) KL divergence of
    ``path``. ``parent``: a model to compare with, None for none, or by
    default the parent its lineage records (when that file still exists).
    The result is stored next to the model; returns the Evaluation."""
    from desktop_app.core.llm.optimize.evaluate import evaluate

    if parent == _RECORDED:
        parent = recorded_parent(path)
    elif parent is not None and not Path(parent).is_file():
        parent = None   # deleted since: no divergence to measure
    return evaluate(path, text=text, parent=parent, token=token, report=report, **options)


__all__ = ["ModelFit", "fit_check", "quantize_variant", "prune_variant", "recorded_parent", "evaluate_variant"]
