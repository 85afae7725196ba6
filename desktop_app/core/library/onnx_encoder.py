"""Sentence embeddings from an exported sentence-transformers ONNX folder,
with only onnxruntime, tokenizers and numpy.

What ``SentenceTransformer(folder, backend="onnx").encode`` does for a
Transformer -> Pooling -> (Normalize) pipeline, reproduced without importing
torch, transformers or sentence-transformers, so the packaged app can leave
those (and what they pull in) out of the bundle:

- tokenize with the folder's ``tokenizer.json``: special tokens added,
  truncated to the pipeline's max_seq_length, padded to the longest text of
  each batch;
- run the graph on the inputs it declares (``input_ids``, ``attention_mask``,
  ``token_type_ids``);
- pool the token embeddings as ``1_Pooling/config.json`` says (mean over the
  attention mask for all-MiniLM-L6-v2), L2-normalize if the pipeline has a
  Normalize module.

Batches group texts of similar length (less padding), in
sentence-transformers' own order: longest text first by characters, ties as
numpy's default sort leaves them. The order matters beyond speed: the int8
model quantizes activations with one scale per batch, so a text's vector
depends slightly on its batch mates (cosine down to ~0.985 for a short text
in another batch). Same batches, same vectors as sentence-transformers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

log = logging.getLogger(__name__)


class EncoderConfigError(ValueError):
    """The folder is not a sentence-transformers pipeline this runtime can run."""


_MODULE_KINDS = {"Transformer": "transformer", "Pooling": "pooling", "Normalize": "normalize"}
_POOLING_MODES = ("mean", "cls", "max")
_ONNX_INT_TYPES = {"tensor(int64)": np.int64, "tensor(int32)": np.int32}


def cpu_cores() -> int:
    """Logical CPUs this process may run on (a container's or taskset's limit, not the host's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def onnx_threads() -> int:
    """onnxruntime's own default, physical cores (a hyper-thread sibling
    adds nothing to int8 matrix work), but within this process's CPU limit."""
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        physical = None
    return max(1, min(cpu_cores(), physical or cpu_cores()))


def _read_json(path: Path):
    """The file's JSON, or {} when the file is missing."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise EncoderConfigError(f"unreadable {path.name} in {path.parent}: {exc}") from exc


def _module_kind(type_name: str) -> str:
    """``sentence_transformers.models.Pooling`` (v2-v4) and
    ``sentence_transformers.sentence_transformer.modules.pooling.Pooling``
    (v5) are the same module."""
    short = type_name.rsplit(".", 1)[-1]
    if short not in _MODULE_KINDS:
        raise EncoderConfigError(f"unsupported sentence-transformers module {type_name!r}")
    return _MODULE_KINDS[short]


def _pooling_mode(config: dict) -> str:
    if "pooling_mode" in config:  # sentence-transformers v5
        mode = str(config["pooling_mode"])
    else:
        enabled = [name for name in ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens",
                                     "weightedmean_tokens", "lasttoken")
                   if config.get(f"pooling_mode_{name}")]
        if len(enabled) != 1:
            raise EncoderConfigError(f"unsupported pooling (modes {enabled or 'none'})")
        mode = {"cls_token": "cls", "mean_tokens": "mean", "max_tokens": "max"}.get(enabled[0], enabled[0])
    if mode not in _POOLING_MODES:
        raise EncoderConfigError(f"unsupported pooling mode {mode!r}")
    return mode


class PipelineConfig:
    """What the folder's sentence-transformers config files say about encoding."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        modules = _read_json(folder / "modules.json")
        if not modules or not isinstance(modules, list):
            raise EncoderConfigError(f"{folder} has no modules.json (not a sentence-transformers folder)")
        kinds = [(_module_kind(m.get("type", "")), m.get("path", "")) for m in modules]
        if [k for k, _ in kinds[:2]] != ["transformer", "pooling"] or \
                any(k != "normalize" for k, _ in kinds[2:]):
            raise EncoderConfigError(f"unsupported pipeline {[k for k, _ in kinds]} "
                                     "(this runtime runs Transformer, Pooling, optional Normalize)")
        self.normalize = len(kinds) > 2
        pooling = _read_json(folder / kinds[1][1] / "config.json")
        self.pooling = _pooling_mode(pooling)
        self.dim: Optional[int] = pooling.get("embedding_dimension", pooling.get("word_embedding_dimension"))

        sbert = _read_json(folder / "sentence_bert_config.json")
        tokenizer_config = _read_json(folder / "tokenizer_config.json")
        model_config = _read_json(folder / "config.json")
        # sentence-transformers up to v4 keeps max_seq_length in its own
        # config; v5 saves it as the tokenizer's model_max_length.
        max_len = sbert.get("max_seq_length") or tokenizer_config.get("model_max_length")
        if not max_len or max_len > 10**6:  # transformers' "no limit" sentinel is 1e30
            max_len = model_config.get("max_position_embeddings", 512)
        self.max_seq_length = int(max_len)
        self.lowercase = bool(sbert.get("do_lower_case", False))


class OnnxSentenceEncoder:
    """An exported sentence-transformers folder run with onnxruntime.

    ``encode`` may be called from several threads: onnxruntime sessions are
    thread-safe, and the tokenizer (whose truncation/padding settings are
    shared mutable state in Rust) is used under a lock.
    """

    def __init__(self, folder: Path, onnx_file: str, *, threads: Optional[int] = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = Path(folder)
        self.onnx_path = self.folder / onnx_file
        self.config = PipelineConfig(self.folder)
        self.max_seq_length = self.config.max_seq_length

        tokenizer_file = self.folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise EncoderConfigError(f"{self.folder} has no tokenizer.json (a fast tokenizer is needed)")
        self._tokenizer_json = tokenizer_file.read_text(encoding="utf-8")
        saved = Tokenizer.from_str(self._tokenizer_json)
        saved_padding = saved.padding or {}
        tokenizer_config = _read_json(self.folder / "tokenizer_config.json")
        configured_pad = tokenizer_config.get("pad_token")
        if isinstance(configured_pad, dict):  # a serialized AddedToken
            configured_pad = configured_pad.get("content")
        self._pad_token = saved_padding.get("pad_token") or configured_pad or "[PAD]"
        self._pad_type_id = int(saved_padding.get("pad_type_id", tokenizer_config.get("pad_token_type_id", 0)))
        self._pad_id = int(saved_padding.get("pad_id", 0))
        pad_id = saved.token_to_id(self._pad_token)
        if pad_id is not None:
            self._pad_id = pad_id

        options = ort.SessionOptions()
        # Every core for the matrix work, no inter-op parallelism (one small
        # sequential graph), as the torch backend is set.
        self.threads = threads or onnx_threads()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # Worker threads sleep instead of busy-waiting between parallel
        # sections: on two cores a spinning worker takes the CPU the ingest's
        # parser thread, the UI and other programs need, and drains a laptop's
        # battery. On a busy 2-core machine spinning made encoding ~14% slower
        # (median of 30 paired runs) and cost ~20% more CPU time.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only; warnings about unused initializers are noise
        try:
            self._session = ort.InferenceSession(str(self.onnx_path), options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/NoSuchFile types
            raise EncoderConfigError(f"cannot load {self.onnx_path}: {exc}") from exc

        self._inputs = {}
        for arg in self._session.get_inputs():
            if arg.name not in ("input_ids", "attention_mask", "token_type_ids"):
                raise EncoderConfigError(f"{self.onnx_path.name} wants an input {arg.name!r} this runtime cannot give")
            self._inputs[arg.name] = _ONNX_INT_TYPES.get(arg.type, np.int64)
        outputs = [o.name for o in self._session.get_outputs()]
        self._output = next((n for n in ("last_hidden_state", "token_embeddings") if n in outputs), outputs[0])
        self.dim = int(self.config.dim or self._session.get_outputs()[outputs.index(self._output)].shape[-1])
        self._tokenizer = self._new_tokenizer(for_encoding=True)
        self._tokenizer_lock = threading.Lock()

    def counting_tokenizer(self):
        """A new ``tokenizers.Tokenizer`` of this model that neither
        truncates nor pads (for counting tokens). Each thread needs its own
        or a lock: two threads using one Rust tokenizer fail with "Already
        borrowed"."""
        return self._new_tokenizer(for_encoding=False)

    def _new_tokenizer(self, *, for_encoding: bool):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(self._tokenizer_json)
        tokenizer.no_padding()
        if for_encoding:
            # What transformers sets for padding=True, truncation="longest_first".
            tokenizer.enable_truncation(self.max_seq_length, strategy="longest_first")
            tokenizer.enable_padding(pad_id=self._pad_id, pad_type_id=self._pad_type_id, pad_token=self._pad_token)
        else:
            tokenizer.no_truncation()
        return tokenizer

    def encode(self, texts: Sequence[str], batch_size: int = 32,
               check: Optional[Callable[[], None]] = None) -> np.ndarray:
        """float32 (len(texts), dim), in the order of ``texts``. ``check`` is
        called before each batch (a cancel token's ``check``: a big encode
        stops within one batch)."""
        texts = [str(t) for t in texts]
        if self.config.lowercase:
            texts = [t.lower() for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # sentence-transformers' order exactly (see the module docstring).
        order = np.argsort([-len(t) for t in texts])
        batch_size = max(1, int(batch_size))
        for start in range(0, len(texts), batch_size):
            if check is not None:
                check()
            rows = order[start:start + batch_size]
            with self._tokenizer_lock:
                encodings = self._tokenizer.encode_batch([texts[i] for i in rows])
            out[rows] = self._embed_batch(encodings)
        return out

    def token_embeddings(self, ids: np.ndarray, mask: np.ndarray, type_ids: np.ndarray) -> np.ndarray:
        """The graph's token embeddings (batch, tokens, dim) for token ids
        already tokenized, special tokens and padding included."""
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}
        feeds = {name: feeds[name].astype(dtype, copy=False) for name, dtype in self._inputs.items()}
        return self._session.run([self._output], feeds)[0]

    def _embed_batch(self, encodings) -> np.ndarray:
        mask = np.array([e.attention_mask for e in encodings])
        tokens = self.token_embeddings(np.array([e.ids for e in encodings]), mask,
                                       np.array([e.type_ids for e in encodings]))
        if self.config.pooling == "cls":
            pooled = tokens[:, 0]
        elif self.config.pooling == "max":
            masked = np.where(mask[:, :, None] > 0, tokens, np.float32(-1e9))
            pooled = masked.max(axis=1)
        else:
            # A batched (1 x tokens) @ (tokens x dim) product: no temporary
            # as big as the token embeddings (32 x 256 x 384 floats = 12 MB).
            weights = mask.astype(np.float32)
            pooled = np.matmul(weights[:, None, :], tokens)[:, 0] / np.maximum(weights.sum(axis=1), 1e-9)[:, None]
        if self.config.normalize:
            pooled = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)

    def __repr__(self) -> str:
        return f"OnnxSentenceEncoder({str(self.onnx_path)!r}, dim={self.dim}, max_seq_length={self.max_seq_length})"
