"""Child process that runs one ``llama_model_quantize`` call.

The native call has no progress callback and cannot be interrupted, so
Hearth runs it here: llama.cpp's log (one line per tensor) goes to stdout,
where the parent follows it; cancelling kills this process.

    python -m desktop_app.core.llm.optimize._quantize_child SRC OUT --ftype N
        [--threads N] [--allow-requant] [--imatrix FILE]
        [--tensor-type REGEX=GGML_TYPE_ID ...]

Exit status 0 on success; otherwise the last stdout line starting with
``ERROR:`` says why.
"""

from __future__ import annotations

import argparse
import ctypes
import signal
import sys

from desktop_app.core.childproc import die_with_parent


def load_imatrix_entries(path: str) -> dict[str, "list[float] | object"]:
    """Per-tensor mean squared activations from a llama.cpp imatrix file,
    GGUF format (``<name>.in_sum2`` / ``<name>.counts``) or the legacy .dat
    format, normalised exactly as llama.cpp's quantize tool does."""
    import numpy as np

    with open(path, "rb") as handle:
        magic = handle.read(4)
    if magic == b"GGUF":
        import gguf

        reader = gguf.GGUFReader(path)
        sums, counts = {}, {}
        for t in reader.tensors:
            if t.name.endswith(".in_sum2"):
                sums[t.name[:-8]] = np.asarray(t.data, dtype=np.float32).reshape(-1)
            elif t.name.endswith(".counts"):
                counts[t.name[:-7]] = np.asarray(t.data, dtype=np.float32).reshape(-1)
        entries = {}
        for name, s in sums.items():
            if name not in counts:
                raise ValueError(f"imatrix entry {name} has sums but no counts")
            c = counts[name]
            per = s.reshape(len(c), -1)
            out = np.ones_like(per)
            nz = c > 0
            out[nz] = per[nz] / c[nz, None]
            entries[name] = out.reshape(-1).astype(np.float32)
        return entries
    # legacy: int32 n; then per entry: int32 len, name, int32 ncall, int32 nval, float[nval]
    entries = {}
    with open(path, "rb") as handle:
        data = handle.read()
    pos = 0

    def i32():
        nonlocal pos
        value = int.from_bytes(data[pos:pos + 4], "little", signed=True)
        pos += 4
        return value

    n = i32()
    if n < 1:
        raise ValueError("imatrix file has no entries")
    for _ in range(n):
        length = i32()
        name = data[pos:pos + length].decode("utf-8")
        pos += length
        ncall = i32()
        nval = i32()
        values = np.frombuffer(data, dtype=np.float32, count=nval, offset=pos).copy()
        pos += 4 * nval
        entries[name] = values / ncall if ncall > 0 else values
    return entries


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="_quantize_child")
    parser.add_argument("src")
    parser.add_argument("out")
    parser.add_argument("--ftype", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--allow-requant", action="store_true")
    parser.add_argument("--imatrix", default=None)
    # Per-tensor type overrides (llama_model_quantize_params.tt_overrides):
    # a tensor whose name matches REGEX gets ggml type ID (fit.py's mixes).
    parser.add_argument("--tensor-type", action="append", default=[])
    args = parser.parse_args(argv)
    # Ctrl-C in a terminal reaches the whole process group; cancelling is
    # the parent's decision (it kills this process), so ignore it here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A killed GUI or CLI must not leave a quantizer running (and finishing
    # a file nobody will rename).
    die_with_parent()

    from llama_cpp import llama_cpp as ll

    out = sys.stdout.buffer

    @ll.llama_log_callback
    def log_to_stdout(level, text, user_data):
        if text:
            out.write(text)
            out.flush()

    ll.llama_log_set(log_to_stdout, ctypes.c_void_p(0))
    ll.llama_backend_init()

    params = ll.llama_model_quantize_default_params()
    params.ftype = args.ftype
    params.nthread = args.threads
    params.allow_requantize = bool(args.allow_requant)
    keep_alive = []
    if args.imatrix:
        try:
            entries = load_imatrix_entries(args.imatrix)
        except (OSError, ValueError) as exc:
            out.write(f"ERROR: cannot read the importance matrix {args.imatrix}: {exc}\n".encode())
            out.flush()
            return 4
        array = (ll.llama_model_imatrix_data * (len(entries) + 1))()
        for i, (name, values) in enumerate(entries.items()):
            buf = (ctypes.c_float * len(values)).from_buffer_copy(values.tobytes())
            keep_alive.append(buf)
            array[i].name = name.encode()
            array[i].data = ctypes.cast(buf, ctypes.POINTER(ctypes.c_float))
            array[i].size = len(values)
        array[len(entries)].name = None  # terminator
        keep_alive.append(array)
        params.imatrix = ctypes.cast(array, ctypes.POINTER(ll.llama_model_imatrix_data))
        out.write(f"hearth: using importance matrix with {len(entries)} entries\n".encode())
        out.flush()

    if args.tensor_type:
        overrides = (ll.llama_model_tensor_override * (len(args.tensor_type) + 1))()
        for i, item in enumerate(args.tensor_type):
            pattern, _, type_id = item.rpartition("=")
            overrides[i].pattern = pattern.encode()
            overrides[i].type = int(type_id)
        overrides[len(args.tensor_type)].pattern = None  # terminator
        keep_alive.append(overrides)
        params.tt_overrides = ctypes.cast(overrides, ctypes.POINTER(ll.llama_model_tensor_override))

    status = ll.llama_model_quantize(args.src.encode(), args.out.encode(), ctypes.byref(params))
    if status != 0:
        out.write(f"ERROR: llama_model_quantize failed (status {status})\n".encode())
        out.flush()
        return 1
    out.write(b"hearth: done\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
