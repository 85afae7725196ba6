"""The ctypes mirror of ggml's ``struct ggml_tensor``, shared by the code that
reads activations through llama.cpp's graph-evaluation callback (``cb_eval``):
the importance matrix (imatrix.py) and the layer ranking of pruning (prune.py).

It must match the ggml that llama-cpp-python vendors; a test compares its size
with the library's own ``ggml_tensor_overhead()``.
"""

from __future__ import annotations

import ctypes

GGML_TYPE_F32 = 0


class GgmlTensor(ctypes.Structure):
    """``struct ggml_tensor`` of the ggml vendored by llama-cpp-python 0.3.36
    (ggml.h: GGML_MAX_DIMS 4, GGML_MAX_OP_PARAMS 64, GGML_MAX_SRC 10,
    GGML_MAX_NAME 64)."""


GgmlTensor._fields_ = [
    ("type", ctypes.c_int),
    ("buffer", ctypes.c_void_p),
    ("ne", ctypes.c_int64 * 4),
    ("nb", ctypes.c_size_t * 4),
    ("op", ctypes.c_int),
    ("op_params", ctypes.c_int32 * 16),
    ("flags", ctypes.c_int32),
    ("src", ctypes.POINTER(GgmlTensor) * 10),
    ("view_src", ctypes.POINTER(GgmlTensor)),
    ("view_offs", ctypes.c_size_t),
    ("data", ctypes.c_void_p),
    ("name", ctypes.c_char * 64),
    ("extra", ctypes.c_void_p),
    ("padding", ctypes.c_char * 8),
]


def tensor_at(tensor_ptr) -> GgmlTensor:
    """The tensor a callback's ``struct ggml_tensor *`` points to (not a copy)."""
    return ctypes.cast(tensor_ptr, ctypes.POINTER(GgmlTensor)).contents


__all__ = ["GGML_TYPE_F32", "GgmlTensor", "tensor_at"]
