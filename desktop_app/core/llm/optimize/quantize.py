"""Post-training quantization of a GGUF model with llama.cpp, and the way
back (dequantize to F16/F32 with the ``gguf`` package).

``llama_model_quantize`` gives no progress and cannot be interrupted, so it
runs in a child process (``_quantize_child``); progress comes from the
per-tensor lines llama.cpp logs (``[ 12/ 236] blk.1.attn_k.weight ...``) and
cancel kills the child. Output is written under a temporary name in the
destination folder and renamed at the end: a cancel or crash never leaves a
half-written model under the real name.
"""

from __future__ import annotations

import logging
import mmap
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from desktop_app.core.childproc import OwnedPart, child_env
from desktop_app.core.jobs import CancelToken, Cancelled, Progress, RateLimitedReport, Report, ignore_progress
from desktop_app.core.llm.gguf_header import GGUFError, ModelInfo, read_gguf_info, read_gguf_metadata
from desktop_app.core.llm.lineage import lineage_record, read_sidecar, write_sidecar

log = logging.getLogger(__name__)


class QuantizeError(RuntimeError):
    """A quantization that cannot be done; the message is for the user."""


@dataclass(frozen=True)
class QuantType:
    name: str
    ftype: int            # llama_ftype
    base: str             # ggml type of most weight matrices
    mix: float            # size of the type's mix relative to all-`base` (llama.cpp
                          # gives some attn_v/ffn_down tensors more bits in _M types)
    note: str             # typical quality cost, llama.cpp's published table


# Quality notes: llama.cpp tools/quantize (perplexity increase on
# Llama-3-8B, wikitext-2; F16/BF16 on Mistral-7B). Small models such as
# Gemma 3 270M lose noticeably more at the same type.
QUANT_TYPES: dict[str, QuantType] = {q.name: q for q in (
    QuantType("F16", 1, "F16", 1.0, "lossless in practice (+0.002 ppl on Mistral-7B)"),
    QuantType("BF16", 32, "BF16", 1.0, "lossless in practice (-0.005 ppl on Mistral-7B)"),
    QuantType("Q8_0", 7, "Q8_0", 1.0, "near-lossless (+0.003 ppl on Llama-3-8B)"),
    QuantType("Q6_K", 18, "Q6_K", 1.0, "very small loss (+0.022 ppl on Llama-3-8B)"),
    QuantType("Q5_K_M", 17, "Q5_K", 1.02, "small loss (+0.057 ppl on Llama-3-8B)"),
    QuantType("Q5_K_S", 16, "Q5_K", 1.0, "small loss (+0.105 ppl on Llama-3-8B)"),
    QuantType("Q5_0", 8, "Q5_0", 1.0, "small loss (+0.132 ppl on Llama-3-8B); legacy type, prefer Q5_K_M"),
    QuantType("Q4_K_M", 15, "Q4_K", 1.08, "moderate loss (+0.175 ppl on Llama-3-8B); the usual balance"),
    QuantType("Q4_K_S", 14, "Q4_K", 1.01, "moderate loss (+0.269 ppl on Llama-3-8B)"),
    QuantType("Q4_0", 2, "Q4_0", 1.0, "noticeable loss (+0.469 ppl on Llama-3-8B); legacy type, prefer Q4_K_M"),
    QuantType("Q3_K_M", 12, "Q3_K", 1.12, "large loss (+0.657 ppl on Llama-3-8B)"),
    QuantType("Q3_K_S", 11, "Q3_K", 1.0, "large loss (+1.63 ppl on Llama-3-8B)"),
    QuantType("Q2_K", 10, "Q2_K", 1.15, "very large loss (+3.52 ppl on Llama-3-8B); last resort"),
)}

# Low-bit K types gain most from an importance matrix (llama.cpp recommends one).
IMATRIX_DEFAULT_TYPES = frozenset({"Q2_K", "Q3_K_S", "Q3_K_M", "Q4_K_S", "Q4_K_M"})

_FALLBACK = {"Q2_K": "Q4_0", "Q3_K": "Q4_0", "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
_UNQUANTIZED = {"F32", "F16", "BF16"}
_TENSOR_LINE = re.compile(rb"^\[\s*(\d+)\s*/\s*(\d+)\]\s+(\S+)")


@dataclass(frozen=True)
class Estimate:
    bytes: int
    bits_per_weight: float
    quality_note: str


@dataclass(frozen=True)
class QuantizeResult:
    path: Path
    source: Path
    qtype: str
    file_size: int
    seconds: float
    requantized: bool = False
    imatrix: Optional[Path] = None
    lineage: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path), "source": str(self.source), "type": self.qtype,
            "file_size": self.file_size, "seconds": round(self.seconds, 3),
            "requantized": self.requantized, "imatrix": str(self.imatrix) if self.imatrix else None,
            "lineage": self.lineage,
        }


def _type_sizes() -> dict[str, tuple[int, int]]:
    import gguf

    return {t.name: (block, size) for t, (block, size) in gguf.GGML_QUANT_SIZES.items()}


def estimate(src: os.PathLike | str, qtype: str, info: Optional[ModelInfo] = None) -> Estimate:
    """Expected output size from the header alone, following llama.cpp's
    main rules: 1-D tensors stay F32; the output matrix (or the token
    embedding when it doubles as output) gets Q6_K, or Q8_0 when its rows do
    not fit 256-blocks; a matrix whose row length is not a multiple of the
    type's block falls back as llama.cpp does (Q4_K -> Q5_0 ...)."""
    qt = _quant_type(qtype)
    info = info or read_gguf_info(src, with_lineage=False)
    sizes = _type_sizes()
    names = {t.name for t in info.tensors}
    tied = "output.weight" not in names

    def bytes_for(t, type_name: str) -> int:
        block, size = sizes[type_name]
        if t.shape[0] % block:
            fallback = _FALLBACK.get(type_name, "F16")
            if t.shape[0] % sizes[fallback][0]:
                fallback = "F16"
            block, size = sizes[fallback]
        return t.n_elements // block * size

    body = other = 0
    header = min((t.offset for t in info.tensors), default=0)
    for t in info.tensors:
        if len([d for d in t.shape if d > 1]) < 2 or t.shape[0] == t.n_elements:
            other += t.n_elements * 4  # F32
        elif t.name == "output.weight" or (tied and t.name == "token_embd.weight"):
            if qt.base in _UNQUANTIZED or qt.base == "Q8_0":
                other += bytes_for(t, qt.base)
            else:
                other += bytes_for(t, "Q6_K" if t.shape[0] % 256 == 0 else "Q8_0")
        else:
            body += bytes_for(t, qt.base)
    total = int(header + other + body * qt.mix)
    bpw = total * 8 / max(1, info.parameter_count)
    return Estimate(total, bpw, qt.note)


def _quant_type(qtype: str) -> QuantType:
    try:
        return QUANT_TYPES[qtype.upper()]
    except KeyError:
        raise QuantizeError(f"unknown quantization type {qtype!r}; choose one of {', '.join(QUANT_TYPES)}") from None


def _temp_output(out: Path) -> OwnedPart:
    # In the destination folder (so the final rename is atomic), hidden,
    # locked while this process lives (a part left by a killed run is
    # removed by the next one; see childproc).
    return OwnedPart(out)


def _check_paths(src: Path, out: Path, expected_bytes: int) -> None:
    if src.resolve() == out.resolve():
        raise QuantizeError("the output must be a different file from the source")
    if not out.parent.is_dir():
        raise QuantizeError(f"the output folder {out.parent} does not exist")
    free = shutil.disk_usage(out.parent).free
    if free < expected_bytes * 1.05:
        raise QuantizeError(f"not enough disk space in {out.parent}: about {expected_bytes / 1e6:.0f} MB "
                            f"needed, {free / 1e6:.0f} MB free")


def child_command(src: Path, out: Path, ftype: int, *, threads: int = 0, allow_requant: bool = False,
                  imatrix: Optional[Path] = None, tensor_types: Optional[dict[str, int]] = None) -> list[str]:
    cmd = [sys.executable, "-m", "desktop_app.core.llm.optimize._quantize_child", str(src), str(out),
           "--ftype", str(ftype), "--threads", str(threads)]
    if allow_requant:
        cmd.append("--allow-requant")
    if imatrix is not None:
        cmd += ["--imatrix", str(imatrix)]
    for pattern, type_id in (tensor_types or {}).items():
        cmd += ["--tensor-type", f"{pattern}={type_id}"]
    return cmd


def run_quantize_child(cmd: list[str], *, total: int, token: CancelToken, report: Report,
                       on_started=None) -> None:
    """Run the child, turning its tensor lines into Progress; kill it on cancel."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=child_env())
    if on_started is not None:
        on_started(proc)
    lines: "queue.Queue[Optional[bytes]]" = queue.Queue()

    def pump():
        # A daemon reader: the job loop must stay free to notice a cancel
        # while the child is silent inside a large tensor.
        for line in iter(proc.stdout.readline, b""):
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, name="quantize-output", daemon=True)
    reader.start()
    tail: list[bytes] = []
    done = 0
    try:
        finished = False
        while not finished:
            if token.cancelled:
                raise Cancelled()
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                finished = True
                break
            match = _TENSOR_LINE.match(line)
            if match:
                done = int(match.group(1))
                total = int(match.group(2))
                report(Progress("quantizing", done, total, match.group(3).decode("utf-8", "replace")))
            else:
                tail.append(line)
                del tail[:-30]
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        reader.join(timeout=5)
        raise
    reader.join(timeout=5)
    if rc != 0 or done != total:
        text = b"".join(tail).decode("utf-8", "replace")
        errors = [ln for ln in text.splitlines() if ln.startswith("ERROR:") or "error" in ln.lower()]
        reason = errors[-1] if errors else (text.strip().splitlines() or ["no output"])[-1]
        raise QuantizeError(f"quantization failed (exit status {rc}): {reason.removeprefix('ERROR: ')}")


def quantize(src: os.PathLike | str, out: os.PathLike | str, qtype: str, *,
             imatrix: Optional[os.PathLike | str] = None, allow_requant: bool = False, threads: int = 0,
             token: Optional[CancelToken] = None, report: Report = ignore_progress,
             catalog=None, calibration: Optional[str] = None) -> QuantizeResult:
    """Quantize GGUF ``src`` to ``qtype`` into ``out``.

    ``imatrix``: an importance matrix file (llama.cpp GGUF or legacy .dat);
    ``calibration``: a note on the text it was computed from, for the lineage.

    Refuses an already-quantized source unless ``allow_requant``: the loss
    compounds (dequantizing to F16 first gives llama.cpp a clean input but
    cannot restore what the first quantization lost). Writes a lineage
    sidecar and, when a ``catalog`` is given, adds the result to it.
    """
    token = token or CancelToken()
    report = RateLimitedReport(report)
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().absolute()
    qt = _quant_type(qtype)
    info = preflight(src, out, qt.name, allow_requant=allow_requant, catalog=catalog)
    requant = info.is_quantized
    if imatrix is not None:
        imatrix = Path(imatrix).expanduser().resolve()
        if not imatrix.is_file():
            raise QuantizeError(f"importance matrix {imatrix} not found")
    token.check()
    report(Progress("quantizing", 0, info.tensor_count, src.name))
    part = _temp_output(out)
    tmp = part.path
    started = time.monotonic()
    try:
        run_quantize_child(child_command(src, tmp, qt.ftype, threads=threads, allow_requant=allow_requant,
                                         imatrix=imatrix),
                           total=info.tensor_count, token=token, report=report)
        try:
            read_gguf_info(tmp, with_lineage=False)
        except GGUFError as exc:
            raise QuantizeError(f"llama.cpp wrote an unreadable file: {exc}") from None
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        part.release(remove=True)
        raise
    part.release(remove=False)
    seconds = time.monotonic() - started
    settings: dict[str, Any] = {"type": qt.name, "threads": threads, "source_type": info.quantization}
    if requant:
        settings["requantized"] = True
        settings["warning"] = f"requantized from {info.quantization}: quality loss compounds"
    source_lineage = read_sidecar(src) or {}
    if source_lineage.get("method") == "dequantize":
        settings["warning"] = (f"the source was dequantized from "
                               f"{source_lineage.get('settings', {}).get('source_type', 'a quantized model')}; "
                               "its earlier quantization loss is included")
    if calibration is not None:
        settings["calibration"] = calibration
        # A hidden matrix was computed for this run only and is deleted after it.
        settings["imatrix"] = ("computed from the calibration text" if imatrix is None
                               or imatrix.name.startswith(".") else str(imatrix))
    elif imatrix is not None:
        settings["imatrix"] = str(imatrix)
    lineage = write_sidecar(out, lineage_record(src, "quantize", settings))
    if catalog is not None:
        catalog.add(out)
    return QuantizeResult(out, src, qt.name, out.stat().st_size, seconds, requant,
                          imatrix if imatrix is not None else None, lineage)


def preflight(src: os.PathLike | str, out: os.PathLike | str, qtype: str, *,
              allow_requant: bool = False, catalog=None) -> ModelInfo:
    """Every check that can fail before any work starts (readable source,
    requantizing refused unless allowed, output folder, disk space).
    With a ``catalog``, the source's header comes from its cache (a
    vocabulary's header read is tens of ms of GIL-holding Python)."""
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().absolute()
    qt = _quant_type(qtype)
    info = catalog.info(src) if catalog is not None else read_gguf_info(src, with_lineage=False)
    if info.is_quantized and not allow_requant:
        raise QuantizeError(
            f"{src.name} is already quantized ({info.quantization}); quantizing it again compounds the "
            "quality loss. Allow requantizing to go ahead anyway, or convert it to F16 first "
            "(`model dequantize`), which lets llama.cpp work from clean weights but cannot restore "
            "what was already lost.")
    _check_paths(src, out, estimate(src, qt.name, info).bytes)
    return info


def quantize_calibrated(src: os.PathLike | str, out: os.PathLike | str, qtype: str, *,
                        imatrix: Optional[os.PathLike | str] = None,
                        calibration_text: Optional[os.PathLike | str] = None,
                        use_imatrix: Optional[bool] = None, chunks: Optional[int] = None,
                        keep_imatrix: bool = False, allow_requant: bool = False, threads: int = 0,
                        token: Optional[CancelToken] = None, report: Report = ignore_progress,
                        catalog=None) -> QuantizeResult:
    """Quantize with calibration as the user asked or by default: with a
    given ``imatrix`` file; or computing one from ``calibration_text`` (a
    text file; the bundled text when None) when ``use_imatrix`` is True, or
    when it is None and the type is a low-bit K type
    (``IMATRIX_DEFAULT_TYPES``). The computed matrix is removed afterwards
    unless ``keep_imatrix`` (then it is kept as ``<out>.imatrix.gguf``).
    This is the one entry point the CLI and the GUI use."""
    from desktop_app.core.llm.optimize.imatrix import ImatrixError, compute_imatrix, default_calibration_text

    token = token or CancelToken()
    qt = _quant_type(qtype)
    out = Path(out).expanduser().absolute()
    preflight(src, out, qt.name, allow_requant=allow_requant, catalog=catalog)
    if imatrix is not None:
        return quantize(src, out, qt.name, imatrix=imatrix, allow_requant=allow_requant, threads=threads,
                        token=token, report=report, catalog=catalog)
    wanted = use_imatrix if use_imatrix is not None else (calibration_text is not None
                                                          or qt.name in IMATRIX_DEFAULT_TYPES)
    if not wanted:
        return quantize(src, out, qt.name, allow_requant=allow_requant, threads=threads,
                        token=token, report=report, catalog=catalog)
    text_path = Path(calibration_text).expanduser() if calibration_text else default_calibration_text()
    try:
        text = text_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise QuantizeError(f"cannot read the calibration text {text_path}: {exc.strerror or exc}") from None
    matrix = out.with_name((out.name if keep_imatrix else f".{out.name}") + ".imatrix.gguf")
    try:
        try:
            calibrated = compute_imatrix(src, text, matrix, chunks=chunks, token=token, report=report,
                                         dataset_name=text_path.name)
        except ImatrixError as exc:
            raise QuantizeError(str(exc)) from None
        note = f"{text_path} ({calibrated.chunks} windows of {calibrated.chunk_size} tokens)"
        return quantize(src, out, qt.name, imatrix=matrix, allow_requant=allow_requant, threads=threads,
                        token=token, report=report, catalog=catalog, calibration=note)
    finally:
        if not keep_imatrix:
            matrix.unlink(missing_ok=True)


# --- dequantize ---------------------------------------------------------------

def dequantize(src: os.PathLike | str, out: os.PathLike | str, to: str = "F16", *,
               token: Optional[CancelToken] = None, report: Report = ignore_progress,
               catalog=None) -> QuantizeResult:
    """Write an F16 (or F32) copy of a quantized GGUF: same metadata, every
    matrix dequantized with the ``gguf`` package; 1-D tensors (norms) as F32,
    as llama.cpp's converter does. Precision lost in quantization is not
    recovered; this gives a clean source for another type."""
    import gguf
    import numpy as np
    from gguf.quants import dequantize as gguf_dequantize

    token = token or CancelToken()
    report = RateLimitedReport(report)
    to = to.upper()
    if to not in ("F16", "F32"):
        raise QuantizeError("dequantize writes F16 or F32")
    src, out = Path(src).expanduser().resolve(), Path(out).expanduser().absolute()
    info = read_gguf_info(src, with_lineage=False)
    matrix_dtype = np.float16 if to == "F16" else np.float32
    out_bytes = sum(t.n_elements * (4 if _is_vector(t) or to == "F32" else 2) for t in info.tensors)
    _check_paths(src, out, out_bytes + min(t.offset for t in info.tensors))
    metadata = read_gguf_metadata(src)
    token.check()
    part = _temp_output(out)
    tmp = part.path
    started = time.monotonic()
    try:
        writer = gguf.GGUFWriter(tmp, info.architecture)
        for key, vtype, sub_type, value in metadata:
            if key in ("general.architecture", "general.alignment"):
                continue
            if key == "general.file_type":
                value = 1 if to == "F16" else 0
            writer.add_key_value(key, value, gguf.GGUFValueType(vtype),
                                 sub_type=gguf.GGUFValueType(sub_type) if sub_type is not None else None)
        if "general.file_type" not in {m[0] for m in metadata}:
            writer.add_file_type(1 if to == "F16" else 0)
        plan = []
        for t in info.tensors:
            dtype = np.float32 if _is_vector(t) else matrix_dtype
            np_shape = tuple(reversed(t.shape))
            plan.append((t, dtype))
            writer.add_tensor_info(t.name, np_shape, np.dtype(dtype), t.n_elements * np.dtype(dtype).itemsize)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        with open(src, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            for i, (t, dtype) in enumerate(plan):
                token.check()
                qtype = gguf.GGMLQuantizationType[t.type]
                raw = np.frombuffer(buf, dtype=np.uint8, count=t.n_bytes, offset=t.offset)
                rows = t.n_elements // t.shape[0]
                row_bytes = t.n_bytes // rows
                values = gguf_dequantize(raw.reshape(rows, row_bytes), qtype)
                writer.write_tensor_data(np.ascontiguousarray(values.reshape(tuple(reversed(t.shape)))
                                                              .astype(dtype, copy=False)))
                del raw, values
                report(Progress("dequantizing", i + 1, len(plan), t.name))
        writer.close()
        read_gguf_info(tmp, with_lineage=False)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        part.release(remove=True)
        raise
    part.release(remove=False)
    seconds = time.monotonic() - started
    lineage = write_sidecar(out, lineage_record(src, "dequantize", {"type": to, "source_type": info.quantization}))
    if catalog is not None:
        catalog.add(out)
    return QuantizeResult(out, src, to, out.stat().st_size, seconds, False, None, lineage)


def _is_vector(t) -> bool:
    return sum(1 for d in t.shape if d > 1) < 2
