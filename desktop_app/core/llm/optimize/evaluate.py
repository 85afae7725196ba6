"""Measure what a model variant costs and buys: size, memory, speed,
perplexity and KL divergence from its parent.

Perplexity follows llama.cpp's ``llama-perplexity`` (tools/perplexity/
perplexity.cpp, ``perplexity()``) exactly, so numbers are comparable with
published tables:

* the whole text is tokenized once, with BOS if the vocabulary adds one and
  without parsing special-token text;
* it is cut into ``len(tokens) // n_ctx`` fixed, non-overlapping windows of
  ``n_ctx`` tokens (at most ``max_windows``), the KV cache cleared before each,
  each window decoded in one batch (llama.cpp's default n_batch >= n_ctx) with
  llama.cpp's default attention kernel (flash attention "auto");
* the first token of every window is replaced by BOS;
* only the second half is scored: the logits at positions ``first = n_ctx/2``
  to ``n_ctx - 2`` predict the tokens at ``first + 1`` .. ``n_ctx - 1``
  (``n_ctx - first - 1`` tokens per window);
* perplexity = exp(mean negative log-likelihood).

KL divergence is llama.cpp's ``--kl-divergence``: per scored position
KL(P_parent || P_model) = sum_v p_parent(v) (log p_parent(v) - log p_model(v))
over the *full* vocabulary. llama.cpp stores the base model's log-probs in a
file (uint16-quantized); here both models are loaded and evaluated window by
window, a few positions at a time, so the full distributions are compared
exactly in float32 and nothing large is cached. Reported: mean, 99th
percentile and maximum KL, and the share of positions where both models rank
the same token first ("same top").

Speed and peak memory are measured in a child process that loads only the
model under test (see ``_probe``): its peak RSS is that model's alone, plus the
child's Python interpreter, whose RSS before loading is reported too
(``baseline_rss``), so ``model_memory = peak_rss - baseline_rss``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from desktop_app.core.jobs import CancelToken, Progress, RateLimitedReport, Report, ignore_progress
from desktop_app.core.llm.optimize.texts import TextInput, read_text_input
from desktop_app.core.paths import RESOURCES_DIR

log = logging.getLogger(__name__)

DEFAULT_EVAL_TEXT = RESOURCES_DIR / "text" / "eval_kjv_ruth_esther_jonah.txt"
# Rows of logits normalised at a time: bounds our float temporaries to a few
# chunk x n_vocab arrays (32 x 262k x 4 B = 34 MB for Gemma 3). llama.cpp's own
# buffer holds the scored half of a window: n_ctx/2 x n_vocab floats per model
# (268 MB at n_ctx 512), as in its perplexity tool.
SCORE_CHUNK = 32
PROBE_PROMPT_TOKENS = 256
PROBE_GEN_TOKENS = 32

class EvaluationError(RuntimeError):
    """An evaluation that cannot be done (text too short, vocabularies differ, bad model)."""


@dataclass(frozen=True)
class Evaluation:
    """One model's measurements on one text. All sizes in bytes."""

    model: str
    file_size: int
    text_name: str
    text_sha256: str
    n_ctx: int
    windows: int
    tokens_scored: int
    perplexity: float
    perplexity_error: float          # standard error, as llama.cpp prints "± x"
    nll_mean: float
    parent: Optional[str] = None
    parent_perplexity: Optional[float] = None
    kl_mean: Optional[float] = None
    kl_p99: Optional[float] = None
    kl_max: Optional[float] = None
    same_top_pct: Optional[float] = None
    peak_rss: Optional[int] = None       # of the child process that only loaded this model
    baseline_rss: Optional[int] = None   # that child's RSS before loading the model
    load_seconds: Optional[float] = None
    prompt_tokens_per_s: Optional[float] = None
    gen_tokens_per_s: Optional[float] = None
    n_threads: Optional[int] = None
    created: str = ""

    @property
    def model_memory(self) -> Optional[int]:
        if self.peak_rss is None or self.baseline_rss is None:
            return None
        return self.peak_rss - self.baseline_rss

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["model_memory"] = self.model_memory
        return doc

    @classmethod
    def from_dict(cls, doc: dict) -> "Evaluation":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names})

    @property
    def key(self) -> str:
        return evaluation_key(self.text_sha256, self.n_ctx)


def evaluation_key(text_sha256: str, n_ctx: int) -> str:
    """Where an evaluation lives in the sidecar's "evaluation" section."""
    return f"{text_sha256[:16]}-ctx{n_ctx}"


def load_text(text: TextInput) -> tuple[str, str]:
    """(name, content) of the evaluation text: the bundled default, a file, or a string."""
    return read_text_input(text, default=DEFAULT_EVAL_TEXT, what="evaluation text", error=EvaluationError)


# --- perplexity and KL ---------------------------------------------------------

@dataclass
class _Scores:
    nll: list
    kl: list
    parent_nll: list
    same_top: int = 0


def _score_window(window: Sequence[int], runner, parent, scores: _Scores, chunk: int) -> None:
    """Score one window as llama.cpp does: the whole window in one batch,
    logits requested from position n_ctx/2 on. (Splitting the window into
    several decode calls is not equivalent in practice: llama.cpp picks other
    kernels for other batch sizes, and on the default Gemma 3 Q4_K_M that
    moved perplexity by ~1%.) The logits stay in llama.cpp's buffers; rows are
    normalised ``chunk`` at a time to bound our temporaries."""
    n_ctx = len(window)
    first = n_ctx // 2
    want = [first <= p < n_ctx - 1 for p in range(n_ctx)]  # the last position predicts nothing here
    runner.clear()
    logits = runner.decode(window, 0, want)
    base_logits = None
    if parent is not None:
        parent.clear()
        base_logits = parent.decode(window, 0, want)
    targets_all = np.asarray(window[first + 1:], dtype=np.int64)
    for start in range(0, n_ctx - 1 - first, chunk):
        end = min(start + chunk, n_ctx - 1 - first)
        rows = np.arange(end - start)
        targets = targets_all[start:end]
        logp = _log_softmax_of(logits[start:end])
        scores.nll.extend((-logp[rows, targets]).astype(np.float64).tolist())
        if base_logits is not None:
            base = _log_softmax_of(base_logits[start:end])
            scores.parent_nll.extend((-base[rows, targets]).astype(np.float64).tolist())
            p_base = np.exp(base)
            kl = np.sum(p_base * (base - logp), axis=1, dtype=np.float64)
            # Rounding can make an identical distribution's KL a hair negative.
            scores.kl.extend(np.maximum(kl, 0.0).tolist())
            scores.same_top += int(np.sum(base.argmax(axis=1) == logp.argmax(axis=1)))


def _log_softmax_of(logits: np.ndarray) -> np.ndarray:
    from desktop_app.core.llm.optimize.runtime import log_softmax

    return log_softmax(logits)


def _windows(tokens: Sequence[int], n_ctx: int, max_windows: Optional[int], bos: Optional[int]) -> list[list[int]]:
    n_chunk = len(tokens) // n_ctx
    if max_windows is not None:
        n_chunk = min(n_chunk, max_windows)
    out = []
    for i in range(n_chunk):
        window = list(tokens[i * n_ctx:(i + 1) * n_ctx])
        if bos is not None:
            window[0] = bos
        out.append(window)
    return out


def perplexity_windows(tokens: Sequence[int], n_ctx: int, max_windows: Optional[int], bos: Optional[int]) -> list[list[int]]:
    """The windows llama.cpp's perplexity tool scores (public so a reference
    implementation can reuse exactly the same cut)."""
    return _windows(tokens, n_ctx, max_windows, bos)


def evaluate(model_path: os.PathLike | str, *, text: TextInput = None, parent: os.PathLike | str | None = None,
             n_ctx: int = 512, max_windows: Optional[int] = 16, measure_speed: bool = True,
             store: bool = True, n_threads: Optional[int] = None,
             token: Optional[CancelToken] = None, report: Report = ignore_progress) -> Evaluation:
    """Evaluate ``model_path`` (and its KL from ``parent``) on ``text``.

    ``text`` is a path (a file's content), a string (the text itself) or None
    (the bundled evaluation text). At least two windows of ``n_ctx`` tokens
    are needed, as in llama.cpp. The result is stored in the model's lineage
    sidecar under "evaluation" when ``store``.
    """
    from desktop_app.core.llm.optimize.runtime import ModelRunner, default_threads

    token = token or CancelToken()
    report = RateLimitedReport(report)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise EvaluationError(f"no model file at {model_path}")
    if n_ctx < 8 or n_ctx % 2:
        raise EvaluationError("n_ctx must be an even number of at least 8 tokens")
    text_name, content = load_text(text)
    text_sha = hashlib.sha256(content.encode("utf-8")).hexdigest()
    threads = n_threads or default_threads()

    probe = None
    if measure_speed:
        report(Progress("measuring speed and memory", 0, 1, model_path.name))
        probe = run_probe(model_path, content, n_ctx=n_ctx, n_threads=threads, token=token)
        report(Progress("measuring speed and memory", 1, 1, model_path.name))

    token.check()
    report(Progress("loading", 0, None, model_path.name))
    runner = parent_runner = None
    try:
        try:
            runner = ModelRunner(model_path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads)
            if parent is not None:
                parent_runner = ModelRunner(parent, n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads)
        except (ValueError, FileNotFoundError, RuntimeError) as exc:
            raise EvaluationError(f"cannot load model: {exc}") from exc
        tokens = runner.tokenize(content)
        if parent_runner is not None:
            if parent_runner.n_vocab != runner.n_vocab or parent_runner.tokenize(content) != tokens:
                raise EvaluationError("the parent model has a different vocabulary: KL divergence is undefined")
        if len(tokens) < 2 * n_ctx:
            raise EvaluationError(
                f"the evaluation text has {len(tokens)} tokens; at least {2 * n_ctx} are needed for n_ctx={n_ctx}")
        windows = _windows(tokens, n_ctx, max_windows, runner.bos if runner.add_bos else None)
        scores = _Scores(nll=[], kl=[], parent_nll=[])
        for i, window in enumerate(windows):
            token.check()
            _score_window(window, runner, parent_runner, scores, SCORE_CHUNK)
            ppl_so_far = float(np.exp(np.mean(scores.nll)))
            report(Progress("evaluating", i + 1, len(windows), f"{model_path.name}  PPL {ppl_so_far:.3f}"))
    finally:
        for r in (runner, parent_runner):
            if r is not None:
                r.close()

    nll = np.asarray(scores.nll, dtype=np.float64)
    mean = float(nll.mean())
    var = float((nll ** 2).mean() - mean ** 2)
    # llama.cpp: PPL error = PPL * sqrt(var / (n - 1))
    ppl = float(np.exp(mean))
    ppl_err = ppl * float(np.sqrt(max(var, 0.0) / max(len(nll) - 1, 1)))
    kl_fields: dict[str, Any] = {}
    if parent is not None:
        kl = np.sort(np.asarray(scores.kl, dtype=np.float64))
        kl_fields = dict(
            parent=str(Path(parent)),
            parent_perplexity=float(np.exp(np.mean(scores.parent_nll))),
            kl_mean=float(kl.mean()),
            kl_p99=float(np.percentile(kl, 99.0)),  # linear interpolation, as llama.cpp
            kl_max=float(kl[-1]),
            same_top_pct=100.0 * scores.same_top / len(kl),
        )
    result = Evaluation(
        model=str(model_path), file_size=model_path.stat().st_size,
        text_name=text_name, text_sha256=text_sha, n_ctx=n_ctx, windows=len(windows),
        tokens_scored=len(nll), perplexity=ppl, perplexity_error=ppl_err, nll_mean=mean,
        **kl_fields,
        **({} if probe is None else dict(
            peak_rss=probe["peak_rss"], baseline_rss=probe["baseline_rss"], load_seconds=probe["load_seconds"],
            prompt_tokens_per_s=probe["prompt_tokens_per_s"], gen_tokens_per_s=probe["gen_tokens_per_s"])),
        n_threads=threads,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if store:
        store_evaluation(model_path, result)
    return result


# --- the sidecar -----------------------------------------------------------------

def store_evaluation(model_path: os.PathLike | str, result: Evaluation) -> None:
    """Keep ``result`` in the model's sidecar, keyed by text hash and n_ctx.
    A model beside which we may not write (a read-only folder) keeps none."""
    from desktop_app.core.llm.lineage import read_sidecar, write_sidecar

    try:
        section = dict((read_sidecar(model_path) or {}).get("evaluation") or {})
        section[result.key] = result.to_dict()
        write_sidecar(model_path, {"evaluation": section})
    except OSError as exc:
        log.warning("could not store the evaluation next to %s: %s", model_path, exc)


def stored_evaluations(model_path: os.PathLike | str) -> list[Evaluation]:
    from desktop_app.core.llm.lineage import read_sidecar

    section = (read_sidecar(model_path) or {}).get("evaluation") or {}
    out = []
    for doc in section.values():
        try:
            out.append(Evaluation.from_dict(doc))
        except TypeError:
            log.warning("ignoring a malformed stored evaluation of %s", model_path)
    return out


def compare(paths: Iterable[os.PathLike | str], *, text_sha256: Optional[str] = None,
            n_ctx: Optional[int] = None) -> list[dict[str, Any]]:
    """One row per model from its stored evaluations (the newest matching
    text/n_ctx), for a side-by-side table. Models never evaluated get a row
    with only their size."""
    rows = []
    for path in paths:
        path = Path(path)
        matches = [e for e in stored_evaluations(path)
                   if (text_sha256 is None or e.text_sha256 == text_sha256)
                   and (n_ctx is None or e.n_ctx == n_ctx)]
        matches.sort(key=lambda e: e.created)
        best = matches[-1] if matches else None
        size = path.stat().st_size if path.exists() else None
        row: dict[str, Any] = {"name": path.name, "path": str(path), "file_size": size}
        if best is not None:
            row.update({k: v for k, v in best.to_dict().items() if k not in ("model",)})
        rows.append(row)
    return rows


def markdown_table(rows: Sequence[dict]) -> str:
    head = ("| model | size (MB) | memory (MB) | prompt tok/s | gen tok/s | perplexity | KL mean | KL p99 "
            "| same top % |")
    lines = [head, "|" + "---|" * 9]

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    for r in rows:
        size = None if r.get("file_size") is None else r["file_size"] / 1e6
        memory = None if r.get("model_memory") is None else r["model_memory"] / 1e6
        lines.append(
            f"| {r['name']} | {fmt(size, '.1f')} | {fmt(memory, '.0f')} | {fmt(r.get('prompt_tokens_per_s'), '.0f')} | "
            f"{fmt(r.get('gen_tokens_per_s'), '.1f')} | {fmt(r.get('perplexity'), '.3f')} | "
            f"{fmt(r.get('kl_mean'), '.4f')} | {fmt(r.get('kl_p99'), '.3f')} | {fmt(r.get('same_top_pct'), '.1f')} |")
    return "\n".join(lines)


def save_chart(rows: Sequence[dict], png_path: os.PathLike | str, *, title: str = "") -> Path:
    """Three panels against file size: perplexity, KL divergence from the
    parent and generation speed; one labelled point per model. Written
    atomically. matplotlib (Agg, no display) is imported only here."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from desktop_app.core.paths import atomic_write

    png_path = Path(png_path)
    pts = [r for r in rows if r.get("file_size")]
    fig = Figure(figsize=(15, 4.8), dpi=100)
    panels = [("perplexity", "perplexity (log scale, lower is better)", True),
              ("kl_mean", "KL divergence from parent (log scale)", True),
              ("gen_tokens_per_s", "generation tokens/s (higher is better)", False)]
    for i, (key, label, logy) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        xs = [r["file_size"] / 1e6 for r in pts if r.get(key) is not None and (not logy or r[key] > 0)]
        ys = [r[key] for r in pts if r.get(key) is not None and (not logy or r[key] > 0)]
        names = [r["name"] for r in pts if r.get(key) is not None and (not logy or r[key] > 0)]
        ax.scatter(xs, ys, color="#c2571a", zorder=3)
        prefix = os.path.commonprefix([r["name"] for r in pts]) if len(pts) > 1 else ""
        for x, y, name in zip(xs, ys, names):
            ax.annotate(_short_name(name[len(prefix):] or name), (x, y), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
        if logy and ys:
            ax.set_yscale("log")
        ax.set_xlabel("file size (MB)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(png_path) as handle:
        fig.savefig(handle, format="png")
    return png_path


def _short_name(name: str) -> str:
    return name[:-5] if name.endswith(".gguf") else name


# --- speed and memory, in a child process ----------------------------------------

def run_probe(model_path: Path, text: str, *, n_ctx: int, n_threads: int,
              token: CancelToken, timeout: float = 600.0) -> dict:
    """Load the model in a fresh interpreter, time a prompt and a greedy
    generation, and return its peak RSS. Cancel kills the child."""
    cmd = [sys.executable, "-m", "desktop_app.core.llm.optimize.evaluate", "--probe", str(model_path),
           "--n-ctx", str(n_ctx), "--threads", str(n_threads)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[4]),
                                                      env.get("PYTHONPATH")]))
    # stderr goes to a file: a pipe nobody reads fills up and blocks the child.
    err_file = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err_file, env=env)
    try:
        assert proc.stdin is not None
        proc.stdin.write(text.encode("utf-8"))
        proc.stdin.close()
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if token.cancelled or time.monotonic() > deadline:
                break
            token.check()
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            token.check()
            raise EvaluationError("measuring speed took too long")
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.stdout.close()
        err_file.seek(0)
        err = err_file.read()
    except BaseException:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    finally:
        err_file.close()
    if proc.returncode != 0:
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["?"])[-1]
        raise EvaluationError(f"cannot run the model: {last}")
    return json.loads(out.decode("utf-8").strip().splitlines()[-1])



def _probe(model_path: str, text: str, n_ctx: int, n_threads: int) -> dict:
    import psutil

    from desktop_app.core.llm.native import peak_rss
    from desktop_app.core.llm.optimize.runtime import ModelRunner

    baseline = psutil.Process().memory_info().rss
    t0 = time.perf_counter()
    runner = ModelRunner(model_path, n_ctx=n_ctx, n_batch=n_ctx, n_threads=n_threads)
    load_seconds = time.perf_counter() - t0
    try:
        prompt = runner.tokenize(text)[:min(PROBE_PROMPT_TOKENS, n_ctx - PROBE_GEN_TOKENS - 1)]
        # Warm-up: the first decode allocates the compute graph.
        runner.decode(prompt[:8], 0, [False] * 7 + [True])
        runner.clear()
        t0 = time.perf_counter()
        logits = runner.decode(prompt, 0, [False] * (len(prompt) - 1) + [True])
        next_tok = int(np.argmax(logits[0]))
        prompt_s = time.perf_counter() - t0
        pos = len(prompt)
        t0 = time.perf_counter()
        for _ in range(PROBE_GEN_TOKENS):
            logits = runner.decode([next_tok], pos, [True])
            next_tok = int(np.argmax(logits[0]))
            pos += 1
        gen_s = time.perf_counter() - t0
    finally:
        runner.close()
    return {
        "baseline_rss": int(baseline), "peak_rss": peak_rss(), "load_seconds": load_seconds,
        "prompt_tokens_per_s": len(prompt) / prompt_s, "gen_tokens_per_s": PROBE_GEN_TOKENS / gen_s,
    }


def _main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="internal: speed/memory probe of one model")
    parser.add_argument("--probe", required=True)
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    text = sys.stdin.buffer.read().decode("utf-8")
    print(json.dumps(_probe(args.probe, text, args.n_ctx, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
