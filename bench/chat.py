"""Generation speed through Hearth's model session vs raw llama-cpp-python,
and time to first token of a cited answer over 5 retrieved passages.

Both sides load the same GGUF with the same context, threads and sampling
(greedy), get the same prompt, and run interleaved (ABBA) in one process so
machine noise hits both alike. Reported: decode tokens/s (after the first
token), medians over the rounds, and the ratio Hearth / raw.

    .venv/bin/python bench/chat.py                    # default model, 6 rounds
    .venv/bin/python bench/chat.py --rounds 10 --tokens 128

Target (issue 3): ratio >= 0.95.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.jobs import CancelToken  # noqa: E402
from desktop_app.core.paths import AppPaths  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402

PROMPT = ("The history of the lighthouse on the northern cape begins in 1842, when the harbour "
          "master wrote to the admiralty that")
CORPUS = Path("/usr/share/doc/python3.11/html/tutorial")
QUESTIONS = [
    "How do I define a function with default argument values in Python?",
    "What is the difference between a list and a tuple?",
    "How do I read a file line by line?",
    "What does the break statement do inside a loop?",
]


def raw_generate(llm, prompt: str, n_tokens: int) -> tuple[int, float, float]:
    """The bare llama-cpp-python token loop (the fastest way to use it)."""
    from desktop_app.core.llm.session import MIN_P, REPEAT_PENALTY, TOP_K, TOP_P
    import llama_cpp

    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
    started = time.perf_counter()
    first = None
    produced = 0
    for tok in llm.generate(tokens, temp=0.0, top_k=TOP_K, top_p=TOP_P, min_p=MIN_P,
                            repeat_penalty=REPEAT_PENALTY):
        if first is None:
            first = time.perf_counter()
        if llama_cpp.llama_vocab_is_eog(llm._model.vocab, tok):
            break
        llm.detokenize([tok])
        produced += 1
        if produced >= n_tokens:
            break
    ended = time.perf_counter()
    return produced, (first - started) * 1000, (produced - 1) / (ended - first)


def raw_completion(llm, prompt: str, n_tokens: int) -> tuple[int, float, float]:
    """llama-cpp-python's streaming completion API, for reference."""
    from desktop_app.core.llm.session import MIN_P, REPEAT_PENALTY, TOP_K, TOP_P

    started = time.perf_counter()
    first = None
    produced = 0
    for _chunk in llm.create_completion(prompt, max_tokens=n_tokens, temperature=0.0, top_k=TOP_K,
                                        top_p=TOP_P, min_p=MIN_P, repeat_penalty=REPEAT_PENALTY,
                                        stream=True):
        if first is None:
            first = time.perf_counter()
        produced += 1
    ended = time.perf_counter()
    return produced, (first - started) * 1000, (produced - 1) / (ended - first)


def hearth_generate(session, prompt: str, n_tokens: int) -> tuple[int, float, float]:
    result = session.generate(prompt, max_tokens=n_tokens, temperature=0.0, on_token=lambda t: None)
    return result.tokens, result.first_token_ms, result.tokens_per_s


def bench_generation(model: Path, settings: Settings, rounds: int, n_tokens: int) -> dict:
    import llama_cpp

    from desktop_app.core.llm.session import LlmSession, resolve_threads

    threads = resolve_threads(settings.threads)
    with tempfile.TemporaryDirectory() as tmp:
        session = LlmSession(AppPaths.at(tmp).ensure(), settings)
        session.load(model)
        raw = llama_cpp.Llama(model_path=str(model), n_ctx=session.n_ctx, n_batch=512, n_threads=threads,
                              n_threads_batch=threads, verbose=False, seed=0)
        try:
            # Warm-up: page the weights in for both.
            hearth_generate(session, PROMPT, 8)
            raw_generate(raw, PROMPT, 8)
            results = {"hearth": [], "raw": [], "raw_completion": []}
            for i in range(rounds):
                order = ("hearth", "raw") if i % 2 == 0 else ("raw", "hearth")
                for name in order:
                    fn = hearth_generate if name == "hearth" else raw_generate
                    llm = session if name == "hearth" else raw
                    results[name].append(fn(llm, PROMPT, n_tokens))
                if i < 2:
                    results["raw_completion"].append(raw_completion(raw, PROMPT, n_tokens))
        finally:
            raw.close()
            session.close()
    summary = {name: {"tokens": statistics.median(r[0] for r in runs),
                      "first_token_ms": statistics.median(r[1] for r in runs),
                      "tokens_per_s": statistics.median(r[2] for r in runs)}
               for name, runs in results.items() if runs}
    summary["ratio"] = summary["hearth"]["tokens_per_s"] / summary["raw"]["tokens_per_s"]
    summary["threads"] = threads
    return summary


def bench_first_token(model: Path, settings: Settings, corpus: Path, repeats: int) -> dict:
    from desktop_app.core.chat.engine import ChatEngine
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.llm.session import LlmSession
    from desktop_app.core.tools.registry import default_registry

    settings.retrieval_k = 5
    with tempfile.TemporaryDirectory() as tmp:
        embedder = load_embedder(settings.embedder_backend, cache_dir=Path(tmp) / "embedder")
        library = Library(Path(tmp) / "library", embedder_factory=lambda: embedder, settings=settings)
        started = time.perf_counter()
        report = library.add([corpus], token=CancelToken())
        index_s = time.perf_counter() - started
        session = LlmSession(AppPaths.at(Path(tmp) / "data").ensure(), settings)
        session.load(model)
        try:
            engine = ChatEngine(library, session, default_registry(), settings)
            runs = []
            for question in QUESTIONS[:repeats]:
                runs.append(engine.ask(question))
        finally:
            session.close()
            library.close()
    return {
        "corpus": str(corpus), "chunks": report.chunks, "index_s": index_s,
        "passages": [len(a.citations) for a in runs],
        "prompt_tokens": [a.prompt_tokens for a in runs],
        "retrieval_ms": [round(a.retrieval_ms, 1) for a in runs],
        "first_token_ms": [round(a.first_token_ms or 0, 1) for a in runs],
        "answer": runs[0].text,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="GGUF (default: the packaged model)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--context", type=int, default=2048)
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder indexed for the first-token test")
    parser.add_argument("--skip-first-token", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    model = args.model
    if model is None:
        from desktop_app.core.defaults import default_llm_path

        model = default_llm_path(AppPaths.default().models_dir)
    settings = Settings(context_length=args.context, temperature=0.0, max_tokens=args.tokens)

    print(f"model: {model.name}  context {args.context}  {args.rounds} rounds x {args.tokens} tokens")
    gen = bench_generation(model, settings, args.rounds, args.tokens)
    print(f"threads: {gen['threads']}")
    for name in ("hearth", "raw", "raw_completion"):
        r = gen[name]
        print(f"  {name:15s} {r['tokens_per_s']:7.2f} tokens/s   first token {r['first_token_ms']:7.1f} ms"
              f"   ({r['tokens']:.0f} tokens)")
    print(f"ratio hearth / raw generate loop: {gen['ratio']:.3f}   (target >= 0.95)")

    if not args.skip_first_token:
        if not args.corpus.is_dir():
            print(f"first-token test skipped: {args.corpus} is not a folder")
            return 0
        ttft = bench_first_token(model, Settings(context_length=args.context, temperature=0.0,
                                                 max_tokens=64), args.corpus, len(QUESTIONS))
        print(f"\nfirst token of a cited answer, 5 retrieved passages ({ttft['chunks']} chunks indexed "
              f"from {ttft['corpus']} in {ttft['index_s']:.0f} s):")
        print(f"  prompt tokens:  {ttft['prompt_tokens']}   sources cited: {ttft['passages']}")
        print(f"  retrieval ms:   {ttft['retrieval_ms']}")
        print(f"  first token ms: {ttft['first_token_ms']}  (one question each; the first is cold,"
              " later ones reuse the cached instruction prefix)")
        print(f"  answer: {ttft['answer'][:200]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
