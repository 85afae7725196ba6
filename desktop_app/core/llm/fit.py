"""Fit a model in a size budget: a mix of tensor types chosen per group of
tensors, searched against the measured KL from the parent.

The search is general and greedy. It starts from a standard llama.cpp
preset (its tensor types, read from the quantized file), then moves one
group of tensors at a time (token embedding, output, attention q/k/v,
attention output, ffn up/gate, ffn down) one step along a ladder of ggml
types that fit the group's row length. Each step's cost is measured for
real (quantize + KL from the parent on calibration text) the first time it
is considered; later the same step (group, from-type, to-type) is assumed to
cost the same (additivity), so a search costs about one measurement per
group plus one per step. Down steps with the least KL per MB saved are taken
until the size fits; then up steps with the most KL per MB spent are tried
while they still fit. Every mix measured is a candidate in the table.

Sizes are counted from the tensor shapes and the ggml types' block sizes
(exact for the weights) and checked against the real file.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.llm.catalog import GGUFError, lineage_record, read_gguf_info, write_sidecar

log = logging.getLogger(__name__)

# Groups of tensors moved together. A model without a group's tensors
# (output.weight when tied to the embedding) simply has no such group.
GROUPS: dict[str, str] = {
    "token_embd": r"^token_embd\.weight$",
    "output": r"^output\.weight$",
    "attn_qkv": r"\.attn_(q|k|v)\.weight$",
    "attn_output": r"\.attn_output\.weight$",
    "ffn_up_gate": r"\.ffn_(up|gate)\.weight$",
    "ffn_down": r"\.ffn_down\.weight$",
}
# Candidate types, low to high bits; a group gets the ones whose block
# divides every row length in the group (K types need rows of 256).
# Of two types with the same bits per weight the later one is kept (K types
# over the older ones; IQ4_NL over Q4_0, it keeps more at 4.5 bits).
LADDER = ("Q2_K", "Q3_K", "IQ4_NL", "Q4_K", "Q4_1", "Q5_0", "Q5_K", "Q5_1", "Q6_K", "Q8_0")
PRESETS = ("Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M")


class FitError(RuntimeError):
    """A fit that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class Candidate:
    name: str                 # preset name, or "<preset>+mix"
    types: tuple              # ((group, ggml type name), ...) sorted; () for a preset alone
    file_size: int
    kl_mean: float
    same_top_pct: float
    base: str = ""            # the preset the overrides apply to

    @property
    def is_preset(self) -> bool:
        return not self.types

    @property
    def mb(self) -> float:
        return self.file_size / 1e6

    def describe(self) -> str:
        return " ".join(f"{g}={t}" for g, t in self.types) or "(the preset's own types)"


@dataclass
class FitResult:
    path: Optional[Path]
    chosen: Optional[Candidate]
    candidates: list[Candidate]
    budget_bytes: int
    lineage: dict = field(default_factory=dict)
    evaluation: object = None     # the Evaluation stored with the built model (None: not evaluated)


def pareto_front(candidates) -> list[Candidate]:
    """The candidates no other one beats on both size and KL, smallest first."""
    front: list[Candidate] = []
    for c in sorted(candidates, key=lambda c: (c.file_size, c.kl_mean)):
        if not front or c.kl_mean < front[-1].kl_mean:
            front.append(c)
    return front


def table(candidates: list[Candidate], chosen: Optional[Candidate] = None) -> str:
    rows = ["  size MB      KL   same top %  candidate", "  -------  -------  ----------  ---------"]
    for c in sorted(candidates, key=lambda c: c.file_size):
        mark = "*" if chosen is not None and c.types == chosen.types and c.name == chosen.name else " "
        rows.append(f"{mark}{c.mb:8.1f}  {c.kl_mean:7.4f}  {c.same_top_pct:10.1f}  {c.name}: {c.describe()}")
    return "\n".join(rows)


def _type_info():
    import gguf

    return {t.name: (int(t), *gguf.GGML_QUANT_SIZES[t]) for t in gguf.GGMLQuantizationType
            if t in gguf.GGML_QUANT_SIZES}


class _Model:
    """What the search needs from the parent's header and the start preset."""

    def __init__(self, parent: Path) -> None:
        info = read_gguf_info(parent, with_lineage=False)
        self.info = info
        self.types = _type_info()
        self.groups: dict[str, list] = {}
        for name, pattern in GROUPS.items():
            members = [t for t in info.tensors if re.search(pattern, t.name)]
            if members:
                self.groups[name] = members
        self.ladders = {g: self._ladder(ts) for g, ts in self.groups.items()}
        self.base_types: dict[str, str] = {}
        self.base_bytes: dict[str, int] = {}
        self.base_other = 0

    def set_base(self, preset_path: Path) -> None:
        """The start: the preset's own types (a group's most common one
        names its place on the ladder) and its real bytes per group."""
        info = read_gguf_info(preset_path, with_lineage=False)
        by_name = {t.name: t for t in info.tensors}
        for g, ts in self.groups.items():
            kinds = [by_name[t.name].type for t in ts]
            # ties (Q4_K_M gives half the ffn_down layers Q6_K) go to the
            # higher type, the same in every run (not set order)
            self.base_types[g] = max(sorted(set(kinds)), key=lambda k: (kinds.count(k), self.bits(k)))
            self.base_bytes[g] = sum(by_name[t.name].n_bytes for t in ts)
        self.base_other = preset_path.stat().st_size - sum(self.base_bytes.values())

    def _ladder(self, tensors) -> list[str]:
        by_bits: dict[float, str] = {}
        for q in LADDER:
            _, block, nbytes = self.types[q]
            if all(t.shape[0] % block == 0 for t in tensors):
                by_bits[nbytes * 8 / block] = q
        return [by_bits[b] for b in sorted(by_bits)]

    def bits(self, qtype: str) -> float:
        _, block, nbytes = self.types[qtype]
        return nbytes * 8 / block

    def size(self, mix: dict[str, str]) -> int:
        """Counted file size of the preset with ``mix``'s overrides."""
        total = self.base_other
        for g, ts in self.groups.items():
            if g in mix:
                _, block, nbytes = self.types[mix[g]]
                total += sum(t.n_elements // block * nbytes for t in ts)
            else:
                total += self.base_bytes[g]
        return total

    def step(self, mix: dict[str, str], group: str, direction: int) -> Optional[dict[str, str]]:
        ladder = self.ladders[group]
        current = mix.get(group, self.base_types[group])
        bits = self.bits(current)
        if direction < 0:
            lower = [q for q in ladder if self.bits(q) < bits]
            return {**mix, group: lower[-1]} if lower else None
        higher = [q for q in ladder if self.bits(q) > bits]
        return {**mix, group: higher[0]} if higher else None


def _key(mix: dict[str, str]) -> tuple:
    return tuple(sorted(mix.items()))


class Measurer:
    """Quantizes the start preset, or the preset with a mix of per-group
    type overrides, from the parent into ``workdir`` and measures its KL
    from the parent; results are cached by mix."""

    def __init__(self, parent: Path, workdir: Path, text, *, n_ctx: int = 256, windows: int = 4,
                 token: CancelToken, report: Report, reference: Optional[Path] = None) -> None:
        # ``reference``: the model KL is measured from (the user's quantized
        # model, when ``parent`` is its F16 conversion); by default ``parent``.
        self.parent, self.workdir, self.text = parent, workdir, text
        self.reference = reference or parent
        self.n_ctx, self.windows = n_ctx, windows
        self.token, self.report = token, report
        self.model = _Model(parent)
        self.cache: dict[tuple, Candidate] = {}
        self.count = 0
        self.base = ""

    def _quantize(self, out: Path, ftype: int, overrides: dict[str, int]) -> None:
        from desktop_app.core.llm.optimize.quantize import QuantizeError, child_command, run_quantize_child

        try:
            run_quantize_child(child_command(self.parent, out, ftype, tensor_types=overrides),
                               total=self.model.info.tensor_count, token=self.token, report=ignore_progress)
        except QuantizeError as exc:
            raise FitError(str(exc)) from None

    def _evaluate(self, path: Path):
        from desktop_app.core.llm.optimize.evaluate import EvaluationError, evaluate

        try:
            return evaluate(path, text=self.text, parent=self.reference, n_ctx=self.n_ctx,
                            max_windows=self.windows, measure_speed=False, store=False, token=self.token)
        except EvaluationError as exc:
            raise FitError(str(exc)) from None

    def preset(self, qtype: str, *, start: bool = False) -> Candidate:
        """Measure a standard preset; with ``start``, it becomes the base of
        every mix measured afterwards."""
        from desktop_app.core.llm.optimize.quantize import QUANT_TYPES

        self.token.check()
        out = self.workdir / f"preset-{qtype}.gguf"
        self.report(Progress("measuring", self.count, None, f"preset {qtype}"))
        self._quantize(out, QUANT_TYPES[qtype].ftype, {})
        ev = self._evaluate(out)
        cand = Candidate(qtype, (), out.stat().st_size, ev.kl_mean, ev.same_top_pct, qtype)
        if start:
            self.model.set_base(out)
            self.base = qtype
            self.cache[()] = cand
        out.unlink()
        self.count += 1
        log.info("fit preset %s %.1f MB KL %.4f", qtype, cand.mb, cand.kl_mean)
        return cand

    def mix(self, mix: dict[str, str], keep: Optional[Path] = None) -> Candidate:
        from desktop_app.core.llm.optimize.quantize import QUANT_TYPES

        key = _key(mix)
        if key in self.cache and keep is None:
            return self.cache[key]
        self.token.check()
        out = keep or self.workdir / f"mix-{self.count}.gguf"
        self.report(Progress("measuring", self.count, None, " ".join(f"{g}={t}" for g, t in key)))
        overrides = {GROUPS[g]: self.model.types[t][0] for g, t in mix.items()}
        self._quantize(out, QUANT_TYPES[self.base].ftype, overrides)
        ev = self._evaluate(out)
        cand = Candidate(f"{self.base}+mix" if key else self.base, key, out.stat().st_size,
                         ev.kl_mean, ev.same_top_pct, self.base)
        if keep is None:
            out.unlink()
        self.cache[key] = cand
        self.count += 1
        log.info("fit candidate %.1f MB KL %.4f %s", cand.mb, cand.kl_mean, cand.describe())
        return cand


def search(measurer: Measurer, start: dict[str, str], budget: int, *, max_steps: int = 12) -> list[Candidate]:
    """The greedy search from ``start``; returns every mix measured in order."""
    model = measurer.model
    deltas: dict[tuple, tuple[float, int]] = {}   # (group, from, to) -> (dKL, dbytes)
    current = dict(start)
    cur = measurer.mix(current)

    def delta(group: str, nxt: dict[str, str]) -> tuple[float, int]:
        k = (group, current.get(group, model.base_types[group]), nxt[group])
        if k not in deltas:
            cand = measurer.mix(nxt)
            deltas[k] = (cand.kl_mean - cur.kl_mean, cand.file_size - cur.file_size)
        return deltas[k]

    steps = 0
    while cur.file_size > budget and steps < max_steps:
        options = []
        for g in model.groups:
            nxt = model.step(current, g, -1)
            if nxt is not None:
                dkl, dsize = delta(g, nxt)
                if dsize < 0:
                    options.append((max(dkl, 0.0) / -dsize, g, nxt))
        if not options:
            break
        _, g, current = min(options, key=lambda o: o[0])
        cur = measurer.mix(current)
        steps += 1
    rejected: set[tuple] = set()
    while cur.file_size <= budget and steps < max_steps:
        options = []
        for g in model.groups:
            nxt = model.step(current, g, +1)
            if nxt is None or _key(nxt) in rejected:
                continue
            # Only steps whose counted size fits are worth a measurement.
            if model.size(nxt) - model.size(current) + cur.file_size > budget:
                continue
            dkl, dsize = delta(g, nxt)
            if dkl < 0 and dsize > 0:
                options.append((-dkl / dsize, g, nxt))
        if not options:
            break
        _, g, nxt = max(options, key=lambda o: o[0])
        cand = measurer.mix(nxt)
        steps += 1
        if cand.file_size <= budget and cand.kl_mean < cur.kl_mean:
            current, cur = nxt, cand
        else:
            rejected.add(_key(nxt))
    return list(measurer.cache.values())


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

    @property
    def measured(self) -> list[Candidate]:
        seen, out = set(), []
        for c in (*self.candidates, *self.presets):
            if (c.base, c.types) not in seen:
                seen.add((c.base, c.types))
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
               windows: int = 4, max_steps: int = 12, token: Optional[CancelToken] = None,
               report: Report = ignore_progress) -> FitSearch:
    """Measure candidates for ``source`` under ``budget`` (a Budget, or bytes
    of file): the start preset, the greedy search's mixes and the standard
    ``presets``. KL is measured from ``source`` on ``text`` (None: the bundled
    calibration text; "library": passages of ``library``). ``from_f16``: a
    quantized source is converted to F16 first (a hidden temporary in
    ``work_in``; its earlier loss stays). Nothing is left in ``work_in``."""
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
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return FitSearch(source, via_f16, start_preset, budget, tuple(candidates), tuple(measured_presets), lowest,
                     note, n_ctx, windows, round(time.monotonic() - started, 1))


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
