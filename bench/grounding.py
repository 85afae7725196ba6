"""Grounding: do the answers cite a file that really answers the question?

Indexes the Python documentation (as ``bench/retrieval.py`` does, same
evaluation set ``bench/data/retrieval_python_docs.jsonl``), asks every
question through Hearth's ChatEngine on the default model and prints the
share of answers whose citations include one of the question's answer files,
next to retrieval hit@5 measured on the same index in the same run.

It also prints the calibration of the "not covered" threshold: the best
passage's cosine similarity for these (answerable) questions and for
off-topic questions the corpus cannot answer, and what the engine's
``MIN_SIMILARITY`` keeps and refuses of each.

    .venv/bin/python bench/grounding.py --subset           # about 10-15 minutes here
    .venv/bin/python bench/grounding.py --small --limit 30   # answer pages + tutorial only

Target (issue 3): grounding >= hit@5 - 0.1.
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
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from desktop_app.core.jobs import CancelToken  # noqa: E402
from desktop_app.core.paths import AppPaths  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402
from retrieval import DEFAULT_CORPUS, DEFAULT_QUESTIONS, corpus_paths, load_questions, relative  # noqa: E402

# Questions this corpus cannot answer, for the refusal threshold.
OFF_TOPIC = [
    "Who won the football world cup in 1998?",
    "What is a good recipe for pumpkin soup?",
    "How tall is Mount Everest?",
    "When did the Roman empire fall?",
    "What is the capital of Australia?",
    "How do I change a flat tyre on a bicycle?",
    "What are the symptoms of the flu?",
    "Who painted the Mona Lisa?",
    "How many moons does Jupiter have?",
    "What is the best time of year to plant tulips?",
    "How do I knit a scarf?",
    "What does a cardiologist do?",
    "Which bird migrates the longest distance?",
    "How do I file my tax return in Germany?",
    "What is the plot of Hamlet?",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--subset", action="store_true", help="index the smaller corpus of bench/retrieval.py")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only")
    parser.add_argument("--small", action="store_true",
                        help="index only the answer files of the questions asked plus the tutorial "
                             "(distractors): minutes instead of an hour on a busy machine")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from desktop_app.core.chat.engine import MIN_SIMILARITY, ChatEngine
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.llm.session import LlmSession
    from desktop_app.core.tools.registry import default_registry

    questions = load_questions(args.questions)
    if args.limit:
        questions = questions[: args.limit]
    settings = Settings(context_length=2048, temperature=0.0, max_tokens=64)
    model = args.model
    if model is None:
        from desktop_app.core.defaults import default_llm_path

        model = default_llm_path(AppPaths.default().models_dir)
    with tempfile.TemporaryDirectory() as tmp:
        paths = AppPaths.at(tmp).ensure()
        embedder = load_embedder(settings.embedder_backend, cache_dir=Path(tmp) / "embedder")
        library = Library(paths.library_dir, embedder_factory=lambda: embedder, settings=settings)
        started = time.perf_counter()
        if args.small:
            # Answer pages outside the tutorial (which is added whole): the
            # library refuses a file that is also inside an added folder.
            wanted = sorted({args.corpus / a for q in questions for a in q["answers"]
                             if not a.startswith("tutorial/")})
            targets = wanted + [args.corpus / "tutorial"]
        else:
            targets = corpus_paths(args.corpus, load_questions(args.questions), args.subset)
        report = library.add(targets, token=CancelToken())
        print(f"indexed {report.files} files, {report.chunks} chunks in {time.perf_counter() - started:.0f} s")
        session = LlmSession(paths, settings)
        session.load(model)
        try:
            engine = ChatEngine(library, session, default_registry(), settings)
            hit5 = grounded = refused = 0
            best_answerable, best_off = [], []
            started = time.perf_counter()
            for q in questions:
                hits = library.search(q["question"], k=settings.retrieval_k)
                best_answerable.append(max((h.similarity or 0.0) for h in hits) if hits else 0.0)
                hit5 += any(relative(h.path, args.corpus) in q["answers"] for h in hits[:5])
                answer = engine.ask(q["question"])
                cited = [relative(c["path"], args.corpus) for c in answer.citations]
                ok = any(c in q["answers"] for c in cited)
                grounded += ok
                refused += not answer.covered
                if args.verbose:
                    print(f"{'OK ' if ok else 'BAD'} {q['question'][:60]!r} cited {cited[:3]} "
                          f"want {q['answers'][:2]}\n    {answer.text[:140]!r}")
            ask_s = time.perf_counter() - started
            for question in OFF_TOPIC:
                hits = library.search(question, k=settings.retrieval_k)
                best_off.append(max((h.similarity or 0.0) for h in hits) if hits else 0.0)
        finally:
            session.close()
            library.close()
    n = len(questions)
    print(f"model: {Path(model).name}   {n} questions   {ask_s / n:.1f} s per answer")
    print(f"retrieval hit@5 (hybrid, k={settings.retrieval_k}): {hit5 / n:.3f}")
    print(f"grounding (a cited file answers the question): {grounded / n:.3f}   "
          f"target >= {hit5 / n - 0.1:.3f}")
    print(f"refused as not covered: {refused}/{n}")
    print(f"\nthreshold calibration (best passage cosine), MIN_SIMILARITY = {MIN_SIMILARITY}:")
    for label, values in (("answerable", best_answerable), ("off-topic", best_off)):
        values = sorted(values)
        above = sum(v >= MIN_SIMILARITY for v in values)
        print(f"  {label:10s} min {values[0]:.2f}  p10 {values[len(values) // 10]:.2f}  "
              f"median {statistics.median(values):.2f}  max {values[-1]:.2f}   "
              f"kept {above}/{len(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
