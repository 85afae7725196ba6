"""Replay recorded document answers through today's ``support.ground``.

``bench/doc_answers.py --record FILE`` keeps, for every question, what the
engine handed to ``support.ground`` (the question, the model's draft and
citations, the passages). This script runs ``ground`` again on those inputs
with the packaged embedder, without the LLM, and judges the result by the
same rule as ``doc_answers.py``, so a change of the grounding rules can be
measured in seconds on development sets. Questions that never reached
``ground`` (not covered at retrieval, or answered by the calculator path)
keep their recorded verdict. Development only: replaying a blind set's
record to tune would make it no longer blind.

    .venv/bin/python bench/replay_ground.py /tmp/dev.rec.jsonl /tmp/dev2.rec.jsonl -v
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from doc_answers import OFF_TOPIC, matches  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, nargs="+")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every changed verdict")
    parser.add_argument("--wrong", action="store_true", dest="verbose_all", help="with -v: every wrong one too")
    args = parser.parse_args(argv)

    from desktop_app.core.chat import support
    from desktop_app.core.chat.citations import Source
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.settings import Settings

    embedder = load_embedder(Settings().embedder_backend)
    for path in args.records:
        counts = {scope: {"correct": 0, "abstained": 0, "wrong": 0} for scope in ("in-scope", OFF_TOPIC)}
        before = {scope: {"correct": 0, "abstained": 0, "wrong": 0} for scope in ("in-scope", OFF_TOPIC)}
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            row = record["row"]
            scope = OFF_TOPIC if row["corpus"] == OFF_TOPIC else "in-scope"
            before[scope][record["verdict"]] += 1
            verdict, text = record["verdict"], record["answer"]
            if record["ground"]:
                g = record["ground"]
                sources = [Source(**s) for s in g["sources"]]
                result = support.ground(g["question"], g["answer"], g["citations"], sources, embedder.encode)
                text = result.text
                if result.kind == support.NOT_COVERED:
                    verdict = "abstained"
                elif scope == OFF_TOPIC:
                    verdict = "wrong"
                else:
                    verdict = "correct" if matches(text, row["gold_patterns"]) else "wrong"
            counts[scope][verdict] += 1
            if args.verbose and (verdict != record["verdict"] or args.verbose_all and verdict == "wrong"):
                print(f"{record['verdict']:9s} -> {verdict:9s} {row['question'][:70]!r}\n    {text[:220]!r}")
        for scope in counts:
            b, c = before[scope], counts[scope]
            print(f"{path.name:28s} {scope:9s} recorded {b['correct']:2d}/{b['abstained']:2d}/{b['wrong']:2d}"
                  f"   replayed {c['correct']:2d}/{c['abstained']:2d}/{c['wrong']:2d}  (correct/abstained/wrong)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
