"""The one ctypes mirror of ``struct ggml_tensor`` that the imatrix collector
and the pruning ranker read activations through, checked against the ggml that
llama-cpp-python really ships."""

from __future__ import annotations

import ctypes
from pathlib import Path

from desktop_app.core.llm.optimize.ggml_tensor import GGML_TYPE_F32, GgmlTensor, tensor_at


def _ggml_base():
    import llama_cpp

    lib_dir = Path(llama_cpp.__file__).parent / "lib"
    name = next(n for n in ("libggml-base.so", "libggml-base.dylib", "ggml-base.dll") if (lib_dir / n).exists())
    lib = ctypes.CDLL(str(lib_dir / name))
    lib.ggml_tensor_overhead.restype = ctypes.c_size_t
    lib.ggml_type_name.restype = ctypes.c_char_p
    lib.ggml_type_name.argtypes = [ctypes.c_int]
    return lib


def test_mirror_has_the_size_of_the_shipped_struct():
    lib = _ggml_base()
    # ggml_tensor_overhead() = sizeof(struct ggml_object) + sizeof(struct ggml_tensor);
    # ggml_object is {size_t offs, size; ggml_object *next; enum type; char padding[4]}.
    object_size = 3 * ctypes.sizeof(ctypes.c_size_t) + 8
    assert ctypes.sizeof(GgmlTensor) == lib.ggml_tensor_overhead() - object_size
    assert lib.ggml_type_name(GGML_TYPE_F32) == b"f32"


def test_tensor_at_reads_fields_in_place():
    t = GgmlTensor()
    t.type = GGML_TYPE_F32
    t.ne[:] = [640, 7, 1, 1]
    t.name = b"l_out-3"
    seen = tensor_at(ctypes.addressof(t))
    assert (seen.type, list(seen.ne), seen.name) == (GGML_TYPE_F32, [640, 7, 1, 1], b"l_out-3")
    seen.ne[1] = 9  # a view, not a copy: what the callback sees is the graph's tensor
    assert t.ne[1] == 9
