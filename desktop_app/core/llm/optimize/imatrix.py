"""Calibration for quantization: an importance matrix (llama.cpp "imatrix").

Low-bit quantization loses less when it knows which input columns of each
weight matrix matter. llama.cpp measures that as the mean squared activation
entering each matrix multiplication on real text, and its quantizer weights
the rounding error by it. This module computes the same statistics through
llama.cpp's graph-evaluation callback (``cb_eval``), following
``tools/imatrix/imatrix.cpp``: for every MUL_MAT whose weight is a ``blk.*``
tensor and whose input holds at least 16 F32 rows, add the per-column sum of
squares of the input and the row count. The result is written in llama.cpp's
GGUF imatrix format (``<tensor>.in_sum2`` and ``<tensor>.counts``), which the
``llama-quantize`` tool also reads.

Not handled: MUL_MAT_ID (mixture-of-experts) tensors are skipped, so an MoE
model gets no importance data for its expert matrices.
"""

from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from desktop_app.core.childproc import OwnedPart
from desktop_app.core.jobs import CancelToken, Cancelled, Progress, RateLimitedReport, Report, ignore_progress
from desktop_app.core.llm.optimize.ggml_tensor import GGML_TYPE_F32, GgmlTensor, tensor_at
from desktop_app.core.paths import RESOURCES_DIR

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION_TEXT = RESOURCES_DIR / "text" / "calibration_python_tutorial.txt"
DEFAULT_MAX_CHUNKS = 32
_MIN_ROWS = 16  # as imatrix.cpp: tiny batches say little about a column's importance
_LAST_LAYER_ROWS = 16


class ImatrixError(RuntimeError):
    """Calibration could not run; the message is for the user."""


def default_calibration_text() -> Path:
    return DEFAULT_CALIBRATION_TEXT


def _ggml_base():
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    for name in ("libggml-base.so", "libggml-base.dylib", "ggml-base.dll"):
        if (lib_dir / name).exists():
            lib = ctypes.CDLL(str(lib_dir / name))
            break
    else:  # pragma: no cover - packaging problem
        raise ImatrixError(f"ggml library not found in {lib_dir}")
    lib.ggml_op_name.restype = ctypes.c_char_p
    lib.ggml_op_name.argtypes = [ctypes.c_int]
    lib.ggml_backend_buffer_is_host.restype = ctypes.c_bool
    lib.ggml_backend_buffer_is_host.argtypes = [ctypes.c_void_p]
    lib.ggml_backend_tensor_get.restype = None
    lib.ggml_backend_tensor_get.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t]
    return lib


def _op_id(lib, wanted: str) -> int:
    for op in range(256):
        name = lib.ggml_op_name(op)
        if name is None:
            break
        if name.decode() == wanted:
            return op
    raise ImatrixError(f"ggml has no {wanted} op")  # pragma: no cover


def _weight_name(raw: bytes) -> str:
    # "CUDA0#blk.0.attn_k.weight#0" -> "blk.0.attn_k.weight", as imatrix.cpp
    name = raw.decode("utf-8", "replace")
    if "#" in name:
        name = name.split("#")[1]
    return name


class ImatrixCollector:
    """The ``cb_eval`` callback and the statistics it gathers."""

    def __init__(self, token: CancelToken) -> None:
        self._lib = _ggml_base()
        self._mul_mat = _op_id(self._lib, "MUL_MAT")
        self.token = token
        self.sums: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}
        self.error: Optional[BaseException] = None

    def observe(self, tensor_ptr, ask, user_data) -> bool:
        """The ``cb_eval`` graph callback (``ModelRunner`` wraps it for C)."""
        try:
            if self.token.cancelled:
                return False  # aborts the graph; the caller raises Cancelled
            t = tensor_at(tensor_ptr)
            if t.op != self._mul_mat:
                return not ask  # ask: "not interested"; otherwise keep computing
            src0, src1 = t.src[0], t.src[1]
            if not src0 or not src1:
                return not ask
            w, x = src0.contents, src1.contents
            name = _weight_name(w.name)
            rows = x.ne[1] * x.ne[2] * x.ne[3]
            wanted = (name.startswith("blk.") and x.type == GGML_TYPE_F32 and x.ne[1] >= _MIN_ROWS
                      and w.ne[2] * w.ne[3] == 1)
            if ask:
                return bool(wanted)
            if wanted:
                self._accumulate(name, x, rows)
            return True
        except BaseException as exc:  # noqa: BLE001 - a C callback must not raise
            self.error = exc
            return False

    def _accumulate(self, name: str, x: GgmlTensor, rows: int) -> None:
        ne0 = x.ne[0]
        if x.nb[0] != 4:
            raise ImatrixError(f"unexpected layout of the input to {name}")
        contiguous = x.nb[1] == ne0 * 4 and x.nb[2] == x.nb[1] * x.ne[1] and x.nb[3] == x.nb[2] * x.ne[2]
        if self._lib.ggml_backend_buffer_is_host(x.buffer) and contiguous:
            data = np.ctypeslib.as_array(ctypes.cast(x.data, ctypes.POINTER(ctypes.c_float)), shape=(rows, ne0))
        else:
            n_bytes = x.nb[3] * x.ne[3]
            buf = np.empty(n_bytes // 4 + 1, dtype=np.float32)
            self._lib.ggml_backend_tensor_get(ctypes.addressof(x), buf.ctypes.data, 0, n_bytes)
            data = np.lib.stride_tricks.as_strided(
                buf, shape=(x.ne[3], x.ne[2], x.ne[1], ne0),
                strides=(x.nb[3], x.nb[2], x.nb[1], 4)).reshape(rows, ne0)
        sq = np.einsum("ij,ij->j", data, data, dtype=np.float64)
        if name in self.sums:
            if self.sums[name].shape[0] != ne0:
                raise ImatrixError(f"inconsistent input size for {name}")
            self.sums[name] += sq
            self.counts[name] += rows
        else:
            self.sums[name] = sq
            self.counts[name] = rows


@dataclass(frozen=True)
class ImatrixResult:
    path: Path
    entries: int
    chunks: int
    chunk_size: int
    tokens: int


def compute_imatrix(model_path: os.PathLike | str, calibration_text: str, out_path: os.PathLike | str, *,
                    n_ctx: int = 512, chunks: Optional[int] = None, threads: Optional[int] = None,
                    dataset_name: str = "calibration", token: Optional[CancelToken] = None,
                    report: Report = ignore_progress) -> ImatrixResult:
    """Run the model over ``calibration_text`` in windows of ``n_ctx`` tokens
    (at most ``chunks`` windows, default 32) and write the importance matrix
    to ``out_path`` (llama.cpp GGUF imatrix format, written atomically)."""
    from desktop_app.core.llm.optimize.runtime import ModelRunner

    token = token or CancelToken()
    report = RateLimitedReport(report)
    model_path, out_path = Path(model_path), Path(out_path)
    if not calibration_text or not calibration_text.strip():
        raise ImatrixError("the calibration text is empty")
    threads = threads or max(1, min(4, os.cpu_count() or 1))
    collector = ImatrixCollector(token)
    report(Progress("loading model", 0, None, model_path.name))
    try:
        runner = ModelRunner(model_path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads, cb_eval=collector.observe)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ImatrixError(f"cannot load {model_path.name} for calibration: {exc}") from None
    with runner:
        tokens = runner.model.tokenize(calibration_text.encode("utf-8"), add_bos=False, special=False)
        available = len(tokens) // n_ctx
        if available == 0:
            if len(tokens) < 4 * _MIN_ROWS:
                raise ImatrixError(f"the calibration text is too short ({len(tokens)} tokens); give at least "
                                   f"a few hundred words")
            n_ctx = len(tokens)  # one shorter window is still useful
            available = 1
        n_chunks = min(available, chunks or DEFAULT_MAX_CHUNKS)
        add_bos = runner.add_bos and runner.bos >= 0
        for i in range(n_chunks):
            token.check()
            window = list(tokens[i * n_ctx:(i + 1) * n_ctx])
            if add_bos:
                window[0] = runner.bos  # as imatrix.cpp: every window starts like a document
            runner.clear()
            # llama.cpp skips rows without outputs in the last block: ask for
            # enough output rows that its FFN inputs are measured too.
            outputs = [j >= len(window) - _LAST_LAYER_ROWS for j in range(len(window))]
            try:
                runner.decode(window, 0, outputs)
            except RuntimeError as exc:
                if token.cancelled:
                    raise Cancelled() from None
                if collector.error is not None:
                    raise ImatrixError(f"calibration failed: {collector.error}") from collector.error
                raise ImatrixError(f"calibration failed: {exc}") from None
            if collector.error is not None:
                raise ImatrixError(f"calibration failed: {collector.error}") from collector.error
            report(Progress("calibrating", i + 1, n_chunks, f"{(i + 1) * n_ctx} tokens"))
    if not collector.sums:
        raise ImatrixError("no matrix multiplications were observed; this model type is not supported")
    _write_imatrix(out_path, collector, dataset_name, n_chunks, n_ctx)
    return ImatrixResult(out_path, len(collector.sums), n_chunks, n_ctx, n_chunks * n_ctx)


def _write_imatrix(out_path: Path, collector: ImatrixCollector, dataset: str, n_chunks: int, n_ctx: int) -> None:
    import gguf

    part = OwnedPart(out_path)  # locked while we live: see childproc
    tmp = part.path
    try:
        writer = gguf.GGUFWriter(tmp, arch="imatrix")
        writer.kv_data[0].pop("general.architecture", None)  # imatrix files carry none
        writer.add_string("general.type", "imatrix")
        writer.add_array("imatrix.datasets", [dataset])
        writer.add_uint32("imatrix.chunk_count", n_chunks)
        writer.add_uint32("imatrix.chunk_size", n_ctx)
        for name in sorted(collector.sums):
            sums = collector.sums[name].astype(np.float32).reshape(1, -1)
            counts = np.array([[float(collector.counts[name])]], dtype=np.float32)
            writer.add_tensor(f"{name}.in_sum2", sums)
            writer.add_tensor(f"{name}.counts", counts)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, out_path)
    except BaseException:
        part.release(remove=True)
        raise
    part.release(remove=False)
