"""Fit a model in a budget (a file size, or memory at a context length):
the workflow the CLI (`model fit`) and the window's Fit to size dialog both
run. ``search_fit`` measures candidates (the start preset, the greedy
search's per-group type mixes from fit_measure.py, optionally llama.cpp's
other presets and the best mix with blocks pruned) and returns a typed
FitSearch; ``build_fit`` builds the candidate the user picks, records its
lineage and evaluates it; ``fit`` is both with the best candidate.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.llm.fit_measure import (GROUPS, LADDER, PRESETS, Candidate, FitError, Measurer, _type_info,
                                              pareto_front, search, table)
from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info
from desktop_app.core.llm.lineage import lineage_record, write_sidecar

log = logging.getLogger(__name__)


@dataclass
class FitResult:
    path: Optional[Path]
    chosen: Optional[Candidate]
    candidates: list[Candidate]
    budget_bytes: int
    lineage: dict = field(default_factory=dict)
    evaluation: object = None     # the Evaluation stored with the built model (None: not evaluated)



# --- the workflow: search, then build the chosen candidate ------------------------------------

@dataclass(frozen=True)
class Budget:
    """What the variant must fit: a file size, or memory at a context length
    (converted to the file size that allows, by the memory estimate)."""
    file_bytes: int
    memory_bytes: Optional[int] = None
    n_ctx: Optional[int] = None

    def describe(self) -> str:
        file = f"a file of at most {self.file_bytes / 1e6:,.0f} MB"
        if self.memory_bytes is None:
            return file
        return (f"{self.memory_bytes / 1e6:,.0f} MB of memory at {self.n_ctx:,} tokens of context "
                f"({file})")


def memory_budget(info, memory_bytes: int, n_ctx: int) -> Budget:
    """The Budget for a variant of ``info`` that may use ``memory_bytes`` when
    loaded at ``n_ctx`` (see memory.file_size_for_memory)."""
    from desktop_app.core.llm.memory import MemoryEstimateError, file_size_for_memory

    try:
        allowed, n_ctx = file_size_for_memory(info, memory_bytes, n_ctx)
    except MemoryEstimateError as exc:
        raise FitError(str(exc)) from None
    if allowed <= 0:
        raise FitError(f"{memory_bytes / 1e6:,.0f} MB is less than this model needs at {n_ctx:,} tokens of "
                       f"context before any weights ({(memory_bytes - allowed) / 1e6:,.0f} MB); "
                       "allow more memory or a shorter context")
    return Budget(allowed, memory_bytes, n_ctx)


@dataclass(frozen=True)
class FitSearch:
    """What a search measured; ``build_fit`` makes one of its candidates."""
    source: Path                      # the model chosen: lineage parent and KL reference
    via_f16: bool                     # quantized source: candidates were made from its F16 conversion
    start_preset: str
    budget: Budget
    candidates: tuple                 # every mix measured (the start preset alone among them)
    presets: tuple                    # llama.cpp's standard presets, measured alone
    smallest_reachable: int           # counted bytes with every group at its lowest type
    calibration_note: str
    n_ctx: int
    windows: int
    seconds: float
    pruned: tuple = ()                # the best mix on parents with blocks removed

    @property
    def measured(self) -> list[Candidate]:
        seen, out = set(), []
        for c in (*self.candidates, *self.presets, *self.pruned):
            if c.key not in seen:
                seen.add(c.key)
                out.append(c)
        return out

    @property
    def best(self) -> Optional[Candidate]:
        """The least KL within the budget (None when nothing measured fits)."""
        fitting = [c for c in self.measured if c.file_size <= self.budget.file_bytes]
        return min(fitting, key=lambda c: (c.kl_mean, c.file_size)) if fitting else None

    @property
    def front(self) -> list[Candidate]:
        return pareto_front(self.measured)

    def no_fit_message(self) -> str:
        """One sentence when nothing fits ("" when something does)."""
        if self.best is not None:
            return ""
        smallest = min(self.measured, key=lambda c: c.file_size)
        if self.smallest_reachable > self.budget.file_bytes:
            return (f"Nothing fits {self.budget.describe()}: the smallest file Hearth can make from this "
                    f"model is about {self.smallest_reachable / 1e6:,.0f} MB.")
        return (f"Nothing measured fits {self.budget.describe()}: the search stopped at "
                f"{smallest.mb:,.0f} MB; allow more search steps (about "
                f"{self.smallest_reachable / 1e6:,.0f} MB can be reached).")


def _calibration(text, library) -> tuple[object, str]:
    """The text KL is measured on and a note naming it for the lineage."""
    from desktop_app.core.llm.calibration import LIBRARY, CalibrationError, library_calibration
    from desktop_app.core.llm.optimize.imatrix import default_calibration_text

    if text is None:
        path = default_calibration_text()
        return path, f"the bundled text {path.name}"
    if str(text) == LIBRARY:
        if library is None:
            raise FitError("calibrating on your library needs the library (none was given)")
        try:
            cal = library_calibration(library)
        except CalibrationError as exc:
            raise FitError(str(exc)) from None
        return cal.calibration, cal.note
    return text, f"the text {Path(text).name}"


def _check_source(source: Path, from_f16: bool):
    try:
        info = read_gguf_info(source, with_lineage=False)
    except GGUFError as exc:
        raise FitError(str(exc)) from None
    if info.is_quantized and not from_f16:
        raise FitError(f"{source.name} is quantized ({info.quantization}); fit works from an F16 or F32 "
                       "parent (`model dequantize` makes one), or converts it to F16 first when asked")
    return info


def search_fit(source: os.PathLike | str, budget, *, work_in: os.PathLike | str, start_preset: str = "Q4_K_M",
               presets: tuple = (), text=None, library=None, from_f16: bool = False, n_ctx: int = 256,
               windows: int = 4, max_steps: int = 12, prune_layers: int = 0, token: Optional[CancelToken] = None,
               report: Report = ignore_progress) -> FitSearch:
    """Measure candidates for ``source`` under ``budget`` (a Budget, or bytes
    of file): the start preset, the greedy search's mixes and the standard
    ``presets``. KL is measured from ``source`` on ``text`` (None: the bundled
    calibration text; "library": passages of ``library``). ``from_f16``: a
    quantized source is converted to F16 first (a hidden temporary in
    ``work_in``; its earlier loss stays). ``prune_layers``: also measure the
    best mix found on the parent without its 1..N least important blocks
    (ranked on the same text). Nothing is left in ``work_in``."""
    from desktop_app.core.llm.optimize.quantize import dequantize

    token = token or CancelToken()
    budget = budget if isinstance(budget, Budget) else Budget(int(budget))
    source = Path(source).expanduser().resolve()
    if start_preset not in PRESETS:
        raise FitError(f"the search starts from one of {', '.join(PRESETS)}, not {start_preset}")
    unknown = [q for q in presets if q not in PRESETS]
    if unknown:
        raise FitError(f"unknown preset {unknown[0]}; the standard ones are {', '.join(PRESETS)}")
    info = _check_source(source, from_f16)
    via_f16 = bool(info.is_quantized)
    work_in = Path(work_in)
    if not work_in.is_dir():
        raise FitError(f"the folder {work_in} does not exist")
    calibration, note = _calibration(text, library)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f".{source.stem}.fit-", dir=work_in))
    try:
        parent = source
        if via_f16:
            token.check()
            report(Progress("converting to F16", 0, None, source.name))
            parent = workdir / "parent-f16.gguf"
            dequantize(source, parent, "F16", token=token, report=report)
        m = Measurer(parent, workdir, calibration, n_ctx=n_ctx, windows=windows, token=token, report=report,
                     reference=source)
        m.preset(start_preset, start=True)
        lowest = m.model.size({g: ladder[0] for g, ladder in m.model.ladders.items() if ladder})
        # Below the smallest reachable size no search can succeed: say so
        # after one measurement instead of after a dozen.
        candidates = search(m, {}, budget.file_bytes, max_steps=max_steps) if lowest <= budget.file_bytes \
            else [m.cache[()]]
        measured_presets = [m.cache[()]] + [m.preset(q) for q in presets if q != start_preset]
        pruned = _pruned(m, candidates, budget.file_bytes, prune_layers, source=source, calibration=calibration,
                         start_preset=start_preset) if prune_layers else []
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return FitSearch(source, via_f16, start_preset, budget, tuple(candidates), tuple(measured_presets), lowest,
                     note, n_ctx, windows, round(time.monotonic() - started, 1), tuple(pruned))


def _pruned(m: Measurer, candidates: list, budget: int, layers: int, *, source: Path, calibration,
            start_preset: str) -> list[Candidate]:
    """The best mix within the budget (else the smallest measured) on the
    parent without its k least important blocks, k = 1..layers."""
    from dataclasses import replace

    from desktop_app.core.llm.optimize.prune import PruneError, prune, rank_layers

    fitting = [c for c in candidates if c.file_size <= budget]
    mix = dict((min(fitting, key=lambda c: c.kl_mean) if fitting else min(candidates, key=lambda c: c.file_size)).types)
    try:
        m.report(Progress("ranking blocks", 0, None, m.parent.name))
        ranking = rank_layers(m.parent, calibration, token=m.token)
        out = []
        for k in range(1, layers + 1):
            m.token.check()
            path = m.workdir / f"parent-pruned{k}.gguf"
            removed = tuple(prune(m.parent, path, k, ranking=ranking, token=m.token).removed_layers)
            pm = Measurer(path, m.workdir, calibration, n_ctx=m.n_ctx, windows=m.windows, token=m.token,
                          report=m.report, reference=source)
            pm.count = m.count
            pm.preset(start_preset, start=True)
            cand = pm.mix(mix)
            m.count = pm.count
            path.unlink()
            out.append(replace(cand, name=f"{cand.name}, {k} block{'s' if k > 1 else ''} removed",
                               removed_layers=removed))
    except PruneError as exc:
        raise FitError(str(exc)) from None
    return out


def build_fit(search_result: FitSearch, candidate: Candidate, out: os.PathLike | str, *,
              evaluate_windows: Optional[int] = 8, token: Optional[CancelToken] = None,
              report: Report = ignore_progress, catalog=None) -> FitResult:
    """Build ``candidate`` of ``search_result`` at ``out`` (a hidden part
    renamed at the end), record its lineage, and evaluate it against the
    source on the bundled evaluation text (stored with the model, as the
    Evaluate button does; ``evaluate_windows=None`` skips it)."""
    from desktop_app.core.childproc import OwnedPart
    from desktop_app.core.llm.optimize.quantize import QUANT_TYPES, QuantizeError, child_command, dequantize
    from desktop_app.core.llm.optimize.quantize import run_quantize_child

    token = token or CancelToken()
    s = search_result
    out = Path(out).expanduser().absolute()
    if not out.parent.is_dir():
        raise FitError(f"the output folder {out.parent} does not exist")
    if not s.source.is_file():
        raise FitError(f"{s.source} is no longer there")
    info = _check_source(s.source, s.via_f16)
    types = _type_info()
    overrides = {GROUPS[g]: types[t][0] for g, t in candidate.types}
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix=f".{out.name}.fit-", dir=out.parent))
    part = OwnedPart(out)
    try:
        parent = s.source
        if s.via_f16:
            report(Progress("converting to F16", 0, None, s.source.name))
            parent = workdir / "parent-f16.gguf"
            dequantize(s.source, parent, "F16", token=token, report=report)
        if candidate.removed_layers:
            from desktop_app.core.llm.optimize.prune import PruneError, prune

            try:
                pruned = prune(parent, workdir / "parent-pruned.gguf", list(candidate.removed_layers), token=token,
                               report=report)
            except PruneError as exc:
                raise FitError(str(exc)) from None
            parent = pruned.path
        token.check()
        report(Progress("building", 0, info.tensor_count, candidate.name))
        try:
            run_quantize_child(child_command(parent, part.path, QUANT_TYPES[candidate.base].ftype,
                                             tensor_types=overrides),
                               total=info.tensor_count, token=token, report=report)
        except QuantizeError as exc:
            raise FitError(str(exc)) from None
        os.chmod(part.path, 0o644)
        os.replace(part.path, out)
    except BaseException:
        part.release(remove=True)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    part.release(remove=False)
    if out.stat().st_size != candidate.file_size:
        log.warning("fit: built %s is %d bytes, the candidate measured %d", out.name, out.stat().st_size,
                    candidate.file_size)
    settings = {"preset": candidate.base, "overrides": dict(candidate.types), "budget_bytes": s.budget.file_bytes,
                "budget": s.budget.describe(), "kl_mean": candidate.kl_mean, "calibration": s.calibration_note,
                "n_ctx": s.n_ctx, "windows": s.windows, "candidates_measured": len(s.measured),
                "seconds": round(s.seconds + time.monotonic() - started, 1)}
    if s.budget.memory_bytes is not None:
        settings.update({"memory_budget_bytes": s.budget.memory_bytes, "memory_budget_ctx": s.budget.n_ctx})
    if candidate.removed_layers:
        settings.update({"removed_layers": list(candidate.removed_layers),
                         "block_count": {"before": info.layer_count,
                                         "after": info.layer_count - len(candidate.removed_layers)}})
    if s.via_f16:
        settings.update({"via": "F16", "source_type": info.quantization or "quantized",
                         "warning": f"made from a {info.quantization or 'quantized'} model converted to F16: "
                                    "its earlier quantization loss is included"})
    lineage = write_sidecar(out, lineage_record(s.source, "fit", settings))
    if catalog is not None:
        catalog.add(out)
    evaluation = None
    if evaluate_windows:
        from desktop_app.core.llm.optimize.evaluate import EvaluationError, evaluate

        try:
            evaluation = evaluate(out, parent=s.source, max_windows=evaluate_windows, measure_speed=False,
                                  token=token, report=report)
        except EvaluationError as exc:   # the model is built; only its figures are missing
            log.warning("fit: evaluating %s failed: %s", out.name, exc)
    return FitResult(out, candidate, s.measured, s.budget.file_bytes, lineage, evaluation)


def fit(parent: os.PathLike | str, out: os.PathLike | str, max_bytes, *, start_preset: str = "Q4_K_M",
        text=None, library=None, from_f16: bool = False, n_ctx: int = 256, windows: int = 4, max_steps: int = 12,
        evaluate_windows: Optional[int] = None, token: Optional[CancelToken] = None,
        report: Report = ignore_progress, catalog=None) -> FitResult:
    """Search a per-group type mix of ``parent`` (an F16/F32 GGUF, or a
    quantized one with ``from_f16``) that fits ``max_bytes`` (bytes or a
    Budget) with the least KL from ``parent``, and build it at ``out`` with
    lineage: ``search_fit`` then ``build_fit`` of the best candidate."""
    token = token or CancelToken()
    out = Path(out).expanduser().absolute()
    _check_source(Path(parent).expanduser().resolve(), from_f16)
    if not out.parent.is_dir():
        raise FitError(f"the output folder {out.parent} does not exist")
    found = search_fit(parent, max_bytes, work_in=out.parent, start_preset=start_preset, text=text,
                       library=library, from_f16=from_f16, n_ctx=n_ctx, windows=windows, max_steps=max_steps,
                       token=token, report=report)
    if found.best is None:
        raise FitError(found.no_fit_message())
    return build_fit(found, found.best, out, evaluate_windows=evaluate_windows, token=token, report=report,
                     catalog=catalog)


__all__ = ["GROUPS", "LADDER", "PRESETS", "Budget", "Candidate", "FitError", "FitResult", "FitSearch", "Measurer",
           "build_fit", "fit", "memory_budget", "pareto_front", "search", "search_fit", "table"]
