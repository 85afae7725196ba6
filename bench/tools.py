"""Arithmetic answered correctly, with and without the calculator tool.

Runs every question of ``bench/data/arithmetic_questions.jsonl`` through
Hearth's ChatEngine on the default model, with the library holding
``bench/data/arith_docs`` (indexed into a temporary library, so the
"library" questions are answered with retrieval on), and prints the share of
answers that contain the correct number, per kind and overall.

- with the tool: the real engine (app-side planning + the calculator);
- without: the same engine, same retrieval and same prompt, no calculator
  (the model must do the arithmetic itself).

An answer counts when its last number (citation markers aside) equals the
expected answer (relative tolerance 1e-6), or equals it rounded to 2
decimals (money and rates are written that way); repeating the question's
numbers earns nothing. The hand-written ``work`` column is never
shown to the system.

    .venv/bin/python bench/tools.py                 # all 40 questions, both variants
    .venv/bin/python bench/tools.py --only-tool -v  # print each answer
    .venv/bin/python bench/tools.py --heldout       # the held-out set (see bench/data/README.md)

Target (issue 3): >= 0.9 with the tool.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.paths import AppPaths  # noqa: E402
from desktop_app.core.settings import Settings  # noqa: E402

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "data" / "arithmetic_questions.jsonl"
DOCS = HERE / "data" / "arith_docs"
HELDOUT = HERE / "data" / "arithmetic_heldout.jsonl"
HELDOUT_DOCS = HERE / "data" / "arith_docs_heldout"
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def numbers_in(text: str) -> list[float]:
    found = []
    for match in _NUMBER.finditer(text):
        raw = match.group(0).replace(",", "")
        try:
            found.append(float(raw))
        except ValueError:
            continue
    return found


def is_correct(text: str, expected: float) -> bool:
    """The answer's last number (citation markers aside) is the expected
    one: echoing the question's numbers earns nothing."""
    values = numbers_in(re.sub(r"\[\d+(?:,\s*\d+)*\]", " ", text).rstrip(". "))
    if not values:
        return False
    value = values[-1]
    if abs(value - expected) <= 1e-6 * max(1.0, abs(expected)):
        return True
    return round(value, 2) == round(expected, 2) and abs(value - round(value, 2)) < 1e-9


def model_alone(engine, question: str):
    """The engine's own retrieval and prompt, generation without any tool
    step and without the refusal (so the model always tries)."""
    from types import SimpleNamespace

    from desktop_app.core.jobs import CancelToken

    token = CancelToken()
    sources, _ms, covered, _empty, *_ = engine._retrieve(question, [], token)
    result, _ = engine._generate_plain(question, sources if covered else [], [], token,
                                       lambda event: None, None)
    return SimpleNamespace(text=result.text, tool_calls=[])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--only-tool", action="store_true", help="skip the run without the tool")
    parser.add_argument("--limit", type=int, default=0, help="first N questions only")
    parser.add_argument("--heldout", action="store_true",
                        help="the held-out set (arithmetic_heldout.jsonl over arith_docs_heldout/), "
                             "written blind after the planner was built")
    parser.add_argument("--kind", choices=("expression", "word", "library"), default=None,
                        help="only the questions of this kind")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    from desktop_app.core.chat.engine import ChatEngine
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.library.library import Library
    from desktop_app.core.llm.session import LlmSession
    from desktop_app.core.tools.registry import default_registry

    question_file, docs = (HELDOUT, HELDOUT_DOCS) if args.heldout else (QUESTIONS, DOCS)
    questions = [json.loads(l) for l in question_file.read_text(encoding="utf-8").splitlines() if l.strip()]
    if args.kind:
        questions = [q for q in questions if q["kind"] == args.kind]
    if args.limit:
        questions = questions[: args.limit]
    settings = Settings(context_length=2048, temperature=0.0, max_tokens=64)
    variants = [("with tool", default_registry())] + ([] if args.only_tool else [("without tool", None)])
    with tempfile.TemporaryDirectory() as tmp:
        paths = AppPaths.at(tmp).ensure()
        model = args.model
        if model is None:
            from desktop_app.core.defaults import default_llm_path

            model = default_llm_path(AppPaths.default().models_dir)
        embedder = load_embedder(settings.embedder_backend, cache_dir=Path(tmp) / "embedder")
        library = Library(paths.library_dir, embedder_factory=lambda: embedder, settings=settings)
        library.add([docs])
        session = LlmSession(paths, settings)
        session.load(model)
        scores = {}
        try:
            for name, tools in variants:
                engine = ChatEngine(library, session, tools, settings)
                by_kind = defaultdict(lambda: [0, 0])
                started = time.perf_counter()
                for q in questions:
                    if tools is None:
                        answer = model_alone(engine, q["question"])
                    else:
                        answer = engine.ask(q["question"])
                    ok = is_correct(answer.text, float(q["answer"]))
                    by_kind[q["kind"]][0] += ok
                    by_kind[q["kind"]][1] += 1
                    if args.verbose:
                        calls = "; ".join(f"{c['input']} = {c['output']}" for c in answer.tool_calls)
                        print(f"[{name}] {'OK ' if ok else 'BAD'} {q['kind']:10s} {q['question'][:70]!r}\n"
                              f"      expected {q['answer']}  calc: {calls or '-'}\n"
                              f"      answer: {answer.text[:160]!r}")
                total = sum(v[0] for v in by_kind.values()), sum(v[1] for v in by_kind.values())
                scores[name] = (by_kind, total, time.perf_counter() - started)
        finally:
            session.close()
            library.close()
    print(f"model: {Path(model).name}   {len(questions)} questions from {question_file.name}")
    for name, (by_kind, total, seconds) in scores.items():
        kinds = "  ".join(f"{k} {v[0]}/{v[1]}" for k, v in sorted(by_kind.items()))
        print(f"  {name:13s} {total[0] / total[1]:.3f} correct ({total[0]}/{total[1]})   {kinds}   {seconds:.0f} s")
    print("target: >= 0.9 with the tool")
    return 0


if __name__ == "__main__":
    sys.exit(main())
