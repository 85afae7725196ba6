"""Structured layer pruning: drop whole transformer blocks from a GGUF.

Removing whole blocks really shrinks the file and speeds llama.cpp up (one
block fewer to run per token); zeroed weights scattered in matrices do
neither.

Ranking (``rank_layers``): *block influence* (ShortGPT, Men et al. 2024):
BI_l = 1 - mean over tokens of cos(h_in, h_out), the hidden state entering
and leaving block l, read through llama.cpp's graph-evaluation callback
(``cb_eval``: tensors ``l_out-<l>`` and the embedding input) while the model
reads calibration text. A block that barely turns the residual stream is the
one whose removal changes the model least. Chosen over "KL when the block is
skipped" because it needs one forward pass over the calibration text for all
blocks instead of one per block (18 for Gemma 3 270M, each a rewritten file);
its blind spot is that it scores blocks one at a time, so the removal of
several is checked afterwards with ``evaluate`` (KL from the parent).

Writing (``prune``): GGUFReader + GGUFWriter. Tensors ``blk.<removed>.*`` are
dropped, the rest renumbered contiguously, ``<arch>.block_count`` set, and
every metadata array of length block_count sliced to the kept layers.

Sliding-window attention: several architectures (Gemma 2/3, Cohere 2, ...)
decide per layer between local (sliding-window) and global attention, and
use a different RoPE base for each. llama.cpp (src/models/gemma3.cpp,
``load_swa_pattern``) reads ``<arch>.attention.sliding_window_pattern``
either as a period (derived from the layer index: Gemma 3 defaults to 6, i.e.
5 local then 1 global) or as a per-layer array (1 = local). Without care,
removing block 2 of Gemma 3 would turn old block 6 (global) into new block 5
and treat it as local. So the pruned file gets the explicit per-layer array
of the kept layers' original types: every kept layer keeps its own attention
type and RoPE base. For an architecture with a sliding window that llama.cpp
does not let us describe per layer (not in ``SWA_PERIODS``), pruning refuses
rather than silently changing layer types.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np

from desktop_app.core.childproc import OwnedPart
from desktop_app.core.jobs import CancelToken, Progress, RateLimitedReport, Report, ignore_progress
from desktop_app.core.llm.optimize.ggml_tensor import GGML_TYPE_F32, tensor_at
from desktop_app.core.llm.optimize.texts import TextInput, read_text_input

log = logging.getLogger(__name__)

# llama.cpp's default period when the GGUF has no sliding_window_pattern key,
# and whether the dense (global) layer comes first in each period
# (``load_swa_pattern(ml, n, dense_first)`` in src/models/<arch>.cpp of the
# vendored llama.cpp); all of these also accept a per-layer array.
SWA_PERIODS: dict[str, tuple[int, bool]] = {
    "gemma3": (6, False),
    "gemma2": (2, False),
    "gemma-embedding": (6, False),
    "gemma3n": (5, False),
    "cohere2": (4, False),
    "exaone4": (4, False),
    "olmo2": (4, False),
    "llama4": (4, False),
}
_BLOCK_RE = re.compile(r"^blk\.(\d+)\.(.+)$")

class PruneError(RuntimeError):
    """Pruning cannot be done as asked; the message is for the user."""


@dataclass(frozen=True)
class LayerScore:
    layer: int
    influence: float          # 1 - mean cos(h_in, h_out): low = the block changes little
    attention: str            # "local" (sliding window), "global" or "full" (no SWA in the model)
    rank: int                 # 0 = least important (removed first)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PruneResult:
    path: Path
    source: Path
    removed_layers: list[int]
    kept_layers: list[int]
    block_count_before: int
    block_count_after: int
    file_size: int
    source_size: int
    seconds: float
    ranking: list[LayerScore] = field(default_factory=list)
    attention_note: str = ""
    lineage: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "source": str(self.source),
            "removed_layers": self.removed_layers, "kept_layers": self.kept_layers,
            "block_count_before": self.block_count_before, "block_count_after": self.block_count_after,
            "file_size": self.file_size, "source_size": self.source_size, "seconds": round(self.seconds, 3),
            "ranking": [s.to_dict() for s in self.ranking], "attention_note": self.attention_note,
            "lineage": self.lineage,
        }


# --- reading the model's layer layout ---------------------------------------------

def _field_value(reader, key: str):
    f = reader.fields.get(key)
    if f is None:
        return None
    return f.contents()


def _header(path: Path):
    """The fast header read (no tensor data, long arrays skipped): enough to
    validate a request before the slow full GGUFReader pass."""
    from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info

    try:
        info = read_gguf_info(path, with_lineage=False)
    except (GGUFError, OSError) as exc:
        raise PruneError(f"{path.name} is not a readable GGUF file: {exc}") from exc
    if not info.layer_count:
        raise PruneError(f"{path.name} has no {info.architecture}.block_count: not a layered transformer")
    return info


def layer_attention_types(metadata: Mapping[str, Any]) -> tuple[str, Optional[list[bool]]]:
    """(arch, per-layer is-sliding-window flags or None when the model has no
    SWA), exactly as the vendored llama.cpp derives them, from a GGUF's
    key/value metadata."""
    arch = metadata.get("general.architecture")
    n_layer = int(metadata[f"{arch}.block_count"])
    window = metadata.get(f"{arch}.attention.sliding_window")
    if not window:
        return arch, None
    pattern = metadata.get(f"{arch}.attention.sliding_window_pattern")
    if isinstance(pattern, list):
        return arch, [bool(x) for x in pattern[:n_layer]]
    if arch not in SWA_PERIODS:
        raise PruneError(
            f"{arch} models use sliding-window attention with a layer pattern Hearth does not know how to "
            "keep when removing layers; pruning them is not supported")
    period, dense_first = SWA_PERIODS[arch]
    if pattern is not None:
        period = int(pattern)
    if period == 0:
        return arch, [True] * n_layer
    if dense_first:
        return arch, [il % period != 0 for il in range(n_layer)]
    return arch, [il % period < period - 1 for il in range(n_layer)]


def _kind(swa: Optional[list[bool]], il: int) -> str:
    if swa is None:
        return "full"
    return "local" if swa[il] else "global"


# --- ranking ------------------------------------------------------------------------

class _HiddenStates:
    """cb_eval callback keeping the block inputs/outputs of one decode."""

    def __init__(self, n_layer: int) -> None:
        self.n_layer = n_layer
        self.wanted = {f"l_out-{il}" for il in range(n_layer)} | {"inp_scaled", "inp_embd"}
        self.states: dict[str, np.ndarray] = {}
        self.error: Optional[BaseException] = None

    def __call__(self, tensor_ptr, ask, _user_data=None) -> bool:
        try:
            t = tensor_at(tensor_ptr)
            name = t.name.decode("utf-8", "replace")
            if ask:
                return name in self.wanted
            if name in self.wanted and t.type == GGML_TYPE_F32 and t.data:  # host memory (CPU backend)
                ne0, ne1 = int(t.ne[0]), int(t.ne[1])
                row_stride = int(t.nb[1])
                raw = (ctypes.c_char * (row_stride * (ne1 - 1) + ne0 * 4)).from_address(t.data)
                arr = np.lib.stride_tricks.as_strided(np.frombuffer(raw, dtype=np.float32),
                                                      shape=(ne1, ne0), strides=(row_stride, 4))
                self.states[name] = np.array(arr, dtype=np.float32)
        except BaseException as exc:  # never raise through C
            self.error = exc
            return False
        return True


def load_calibration_text(calibration_text: TextInput) -> tuple[str, str]:
    """(name, content): a file, the text itself, or W1's bundled calibration text."""
    from desktop_app.core.llm.optimize.imatrix import default_calibration_text

    return read_text_input(calibration_text, default=default_calibration_text(), what="calibration text",
                           error=PruneError)


def rank_layers(model_path: os.PathLike | str, calibration_text: TextInput = None, *, n_ctx: int = 256,
                max_windows: int = 8, n_threads: Optional[int] = None,
                token: Optional[CancelToken] = None, report: Report = ignore_progress) -> list[LayerScore]:
    """Score every block by block influence on the calibration text;
    returned least important first. Windows of ``n_ctx`` tokens (BOS first),
    the second half of each scored, as in perplexity."""
    from desktop_app.core.llm.optimize.runtime import ModelRunner

    token = token or CancelToken()
    report = RateLimitedReport(report)
    model_path = Path(model_path)
    info = _header(model_path)
    arch, swa = layer_attention_types(info.metadata)
    n_layer = int(info.layer_count)
    _, content = load_calibration_text(calibration_text)
    hidden = _HiddenStates(n_layer)
    first = n_ctx // 2
    cos_sum = np.zeros(n_layer, dtype=np.float64)
    count = 0
    report(Progress("ranking layers", 0, None, "loading " + model_path.name))
    try:
        runner = ModelRunner(model_path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=n_threads, cb_eval=hidden)
    except (ValueError, RuntimeError) as exc:
        raise PruneError(f"cannot load {model_path.name}: {exc}") from exc
    with runner:
        tokens = runner.tokenize(content)
        n_windows = min(max_windows, len(tokens) // n_ctx)
        if n_windows < 1:
            raise PruneError(f"the calibration text is too short: {len(tokens)} tokens, need at least {n_ctx}")
        for w in range(n_windows):
            token.check()
            window = list(tokens[w * n_ctx:(w + 1) * n_ctx])
            if runner.add_bos:
                window[0] = runner.bos
            hidden.states.clear()
            runner.clear()
            # Logits for the scored half: the last block's output then holds
            # exactly those rows (llama.cpp keeps only output rows there).
            runner.decode(window, 0, [p >= first for p in range(n_ctx)])
            if hidden.error is not None:
                raise PruneError(f"reading hidden states failed: {hidden.error}")
            h_prev = hidden.states.get("inp_scaled", hidden.states.get("inp_embd"))
            if h_prev is None or any(f"l_out-{il}" not in hidden.states for il in range(n_layer)):
                raise PruneError(f"{arch}: llama.cpp did not expose the block outputs (l_out) needed for ranking")
            for il in range(n_layer):
                h_out = hidden.states[f"l_out-{il}"]
                rows = n_ctx - first
                a = h_prev[-rows:].astype(np.float64)
                b = h_out[-rows:].astype(np.float64)
                cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
                cos_sum[il] += cos.sum()
                h_prev = h_out
            count += n_ctx - first
            report(Progress("ranking layers", w + 1, n_windows, model_path.name))
    influence = 1.0 - cos_sum / count
    order = sorted(range(n_layer), key=lambda il: (influence[il], il))
    return [LayerScore(layer=il, influence=float(influence[il]), attention=_kind(swa, il), rank=r)
            for r, il in enumerate(order)]


# --- writing --------------------------------------------------------------------------

def _temp_output(out: Path) -> OwnedPart:
    return OwnedPart(out)  # locked while we live: see childproc


def prune(src: os.PathLike | str, out: os.PathLike | str, remove_layers: Union[int, Sequence[int]], *,
          calibration_text: TextInput = None, ranking: Optional[list[LayerScore]] = None,
          n_threads: Optional[int] = None, token: Optional[CancelToken] = None,
          report: Report = ignore_progress, catalog=None) -> PruneResult:
    """Write ``out``: ``src`` without the given blocks.

    ``remove_layers``: a count (the least important by ``rank_layers`` on
    ``calibration_text``, or on a given ``ranking``) or explicit block
    indices. The first and last blocks are never chosen automatically (they
    turn embeddings into the residual stream and back; removing them breaks
    models), but may be named explicitly.
    """
    from gguf import GGUFReader, GGUFValueType, GGUFWriter

    token = token or CancelToken()
    report = RateLimitedReport(report)
    src, out = Path(src), Path(out)
    started = time.monotonic()
    if not src.is_file():
        raise PruneError(f"no model file at {src}")
    if out.resolve() == src.resolve():
        raise PruneError("the output must be a new file, not the source model")
    info = _header(src)
    n_layer = int(info.layer_count)
    arch, swa = layer_attention_types(info.metadata)

    calibration_name = None
    calibration_sha = None
    if isinstance(remove_layers, int):
        count = remove_layers
        if not 1 <= count <= n_layer - 3:
            raise PruneError(f"can remove 1 to {n_layer - 3} of {n_layer} layers, not {count}")
        if ranking is None:
            calibration_name, content = load_calibration_text(calibration_text)
            calibration_sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
            ranking = rank_layers(src, content, n_threads=n_threads, token=token, report=report)
        candidates = [s.layer for s in sorted(ranking, key=lambda s: s.rank) if 0 < s.layer < n_layer - 1]
        removed = sorted(candidates[:count])
    else:
        removed = sorted(set(int(x) for x in remove_layers))
        if not removed:
            raise PruneError("no layers to remove")
        bad = [x for x in removed if not 0 <= x < n_layer]
        if bad:
            raise PruneError(f"no such layer(s) {bad}: the model has layers 0..{n_layer - 1}")
        if len(removed) >= n_layer:
            raise PruneError("cannot remove every layer")
    kept = [il for il in range(n_layer) if il not in set(removed)]
    renumber = {old: new for new, old in enumerate(kept)}

    token.check()
    report(Progress("writing pruned model", 0, None, "reading " + src.name))
    try:
        reader = GGUFReader(src)
    except (OSError, ValueError) as exc:
        raise PruneError(f"{src.name} is not a readable GGUF file: {exc}") from exc

    # Every metadata array with one entry per layer is sliced to the kept layers.
    sliced_keys = []
    pattern_key = f"{arch}.attention.sliding_window_pattern"
    writer_fields = []
    for f in reader.fields.values():
        if f.name.startswith("GGUF.") or f.name == "general.architecture":
            continue
        vtype = f.types[0]
        sub = f.types[-1] if vtype == GGUFValueType.ARRAY else None
        value = f.contents()
        if f.name == f"{arch}.block_count":
            value = len(kept)
        elif f.name == pattern_key:
            continue  # rewritten below as a per-layer array
        elif (vtype == GGUFValueType.ARRAY and isinstance(value, list) and len(value) == n_layer
              and f.name.startswith(f"{arch}.")):
            value = [value[il] for il in kept]
            sliced_keys.append(f.name)
        writer_fields.append((f.name, value, vtype, sub))

    note = "model has no sliding-window attention: layer types unaffected"
    if swa is not None:
        kept_pattern = [1 if swa[il] else 0 for il in kept]
        writer_fields.append((pattern_key, kept_pattern, GGUFValueType.ARRAY, GGUFValueType.UINT32))
        derived = SWA_PERIODS.get(arch)
        note = (f"{arch} alternates local (sliding-window) and global attention by layer; the pruned file "
                f"carries {pattern_key} as a per-layer array (1 = local), so every kept layer keeps its "
                f"original attention type and RoPE base"
                + (f" (llama.cpp would otherwise derive it from the new index, period {derived[0]})"
                   if derived else ""))

    tensors = []
    for t in reader.tensors:
        m = _BLOCK_RE.match(t.name)
        if m:
            il = int(m.group(1))
            if il not in renumber:
                continue
            name = f"blk.{renumber[il]}.{m.group(2)}"
        else:
            name = t.name
        tensors.append((name, t))

    out.parent.mkdir(parents=True, exist_ok=True)
    part = _temp_output(out)
    tmp = part.path
    try:
        writer = GGUFWriter(tmp, arch)
        alignment = _field_value(reader, "general.alignment")
        if alignment:
            writer.data_alignment = int(alignment)
        for name, value, vtype, sub in writer_fields:
            writer.add_key_value(name, value, vtype, sub_type=sub)
        for name, t in tensors:
            writer.add_tensor_info(name, t.data.shape, t.data.dtype, t.data.nbytes, t.tensor_type)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for i, (name, t) in enumerate(tensors):
            token.check()
            writer.write_tensor_data(t.data, tensor_endianess=reader.endianess)
            report(Progress("writing pruned model", i + 1, len(tensors), name))
        writer.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        part.release(remove=True)
        raise
    finally:
        del reader
    part.release(remove=False)

    from desktop_app.core.llm.lineage import lineage_record, write_sidecar

    settings: dict[str, Any] = {
        "removed_layers": removed, "kept_layers": kept,
        "block_count": {"before": n_layer, "after": len(kept)},
        "sliced_metadata": sliced_keys, "attention": note,
    }
    if calibration_name is not None:
        settings["calibration"] = {"name": calibration_name, "sha256": calibration_sha}
    if ranking is not None:
        settings["ranking"] = [{"layer": s.layer, "influence": round(s.influence, 6), "attention": s.attention}
                               for s in sorted(ranking, key=lambda s: s.rank)]
        settings["ranking_method"] = "block influence: 1 - mean cos(block input, block output) on calibration text"
    lineage = write_sidecar(out, lineage_record(src, "prune", settings))
    if catalog is not None:
        catalog.add(out)
    return PruneResult(path=out, source=src, removed_layers=removed, kept_layers=kept,
                       block_count_before=n_layer, block_count_after=len(kept),
                       file_size=out.stat().st_size, source_size=src.stat().st_size,
                       seconds=time.monotonic() - started, ranking=list(ranking or []),
                       attention_note=note, lineage=lineage)
