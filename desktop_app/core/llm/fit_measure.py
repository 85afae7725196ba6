"""The fit search's mechanics (core/llm/fit.py runs them as a workflow): a
mix of tensor types chosen per group of tensors, searched against the
measured KL from the parent.

The search is general and greedy. It starts from a standard llama.cpp
preset (its tensor types, read from the quantized file), then moves one
group of tensors at a time (token embedding, output, attention q/k/v,
attention output, ffn up/gate, ffn down) one step along a ladder of ggml
types that fit the group's row length. Each step's cost is measured for
real (quantize + KL from the parent on calibration text) once, when
first considered; later the same step (group, from-type, to-type) is assumed to
cost the same (additivity), so a search costs about one measurement per
group plus one per step. Down steps with the least KL per MB saved are taken
until the size fits; then up steps with the most KL per MB spent are tried
while they still fit. Every mix measured is a candidate in the table.

Sizes are counted from the tensor shapes and the ggml types' block sizes
(exact for the weights) and checked against the real file.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from desktop_app.core.jobs import CancelToken, Progress, Report, ignore_progress
from desktop_app.core.llm.gguf_header import read_gguf_info

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
    removed_layers: tuple = ()  # blocks pruned from the parent before quantizing

    @property
    def is_preset(self) -> bool:
        return not self.types and not self.removed_layers

    @property
    def key(self) -> tuple:
        return (self.base, self.types, self.removed_layers)

    @property
    def mb(self) -> float:
        return self.file_size / 1e6

    def describe(self) -> str:
        types = " ".join(f"{g}={t}" for g, t in self.types) or "(the preset's own types)"
        if self.removed_layers:
            types += f"; blocks {', '.join(str(n) for n in self.removed_layers)} removed"
        return types


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
        mark = "*" if chosen is not None and c.key == chosen.key else " "
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
