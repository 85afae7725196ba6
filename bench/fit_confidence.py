"""Fit ``support.CONFIDENCE``: when is the best passage sentence an answer?

For every recorded question that reached ``support.ground`` (records of
``bench/doc_answers.py --record``; the development ones are in
bench/data/records/), this computes what ``support.confidence`` weighs for
the best sentence and whether the answer ``ground`` would then show states
the gold (the judging rule of doc_answers.py; off-topic: never). Questions
without a candidate quote (``support.candidate``: the rules the score does
not weigh) stay abstentions. A logistic regression (scikit-learn, L2, C=0.3,
standardised features) is fitted, and its threshold set where the accepted
wrong answers of the training sets are at most TARGET of all their
questions. The estimate holds one set out at a time (fit on the others,
judge the one left out); the weights printed last are fitted on all sets.

    .venv/bin/python bench/fit_confidence.py bench/data/records/*.rec.jsonl

Prints, per set, correct/abstained/wrong of the in-scope questions and the
wrong answers to off-topic ones: for the product's current weights, for the
held-out fits, and for the weights fitted on everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

from doc_answers import OFF_TOPIC, matches  # noqa: E402

TARGET = 0.03
C = 0.3


def read(paths: list[Path]) -> list[dict]:
    """One row per recorded question: set, off-topic, and for those that
    reach a quote that may be shown, its features and label."""
    from desktop_app.core.chat import support
    from desktop_app.core.chat.citations import Source
    from desktop_app.core.library.embed import load_embedder
    from desktop_app.core.settings import Settings

    embed = load_embedder(Settings().embedder_backend).encode
    rows = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            off = record["row"]["corpus"] == OFF_TOPIC
            row = {"set": path.name.split(".")[0], "off": off, "features": None}
            rows.append(row)
            g = record["ground"]
            if not g:
                row["fixed"] = record["verdict"]       # never reached ground: as recorded
                continue
            sources = [Source(**s) for s in g["sources"]]
            text = g["answer"].strip()
            found = support.candidate(g["question"], text, sources, embed)
            if found is None:
                continue
            ranked, quote = found
            row["features"] = support.confidence_features(g["question"], ranked, quote)
            shown = support.shown(g["question"], text, g["citations"], sources, ranked, quote)
            row["label"] = not off and matches(shown.text, record["row"]["gold_patterns"])
    return rows


def tally(rows: list[dict], shown) -> dict:
    counts = {}
    for row in rows:
        c = counts.setdefault(row["set"], Counter())
        scope = "off" if row["off"] else "in"
        if "fixed" in row:
            c[scope, row["fixed"]] += 1
        elif row["features"] is None or not shown(row):
            c[scope, "abstained"] += 1
        else:
            c[scope, "correct" if row["label"] else "wrong"] += 1
    counts["total"] = sum(counts.values(), Counter())
    return counts


def report(name: str, counts: dict) -> None:
    print(name)
    for key, c in counts.items():
        n = sum(c.values())
        wrong = c["in", "wrong"] + c["off", "wrong"]
        print(f"  {key:10s} in-scope {c['in', 'correct']:3d}/{c['in', 'abstained']:3d}/{c['in', 'wrong']:3d}"
              f"  off-topic wrong {c['off', 'wrong']}  wrong {100 * wrong / n:.1f}% of {n}")


def fit(rows: list[dict], keys: list[str]) -> tuple[dict, float]:
    """Weights and bias (confidence >= 0 shows) fitted on ``rows``."""
    from sklearn.linear_model import LogisticRegression

    used = [r for r in rows if r["features"] is not None]
    x = np.array([[r["features"][k] for k in keys] for r in used])
    y = np.array([r["label"] for r in used])
    mu, sd = x.mean(0), x.std(0) + 1e-9
    model = LogisticRegression(C=C, max_iter=2000).fit((x - mu) / sd, y)
    w = model.coef_[0] / sd
    b = float(model.intercept_[0] - (model.coef_[0] * mu / sd).sum())
    z = x @ w + b
    allowed, cut = TARGET * len(rows), float(z.max()) + 1
    for t in sorted(set(z), reverse=True):
        if ((z >= t) & ~y).sum() > allowed:
            break
        cut = float(t)
    return dict(zip(keys, (float(v) for v in w))), b - cut


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", type=Path, nargs="+")
    args = parser.parse_args(argv)
    from desktop_app.core.chat import support

    rows = read(args.records)
    keys = list(support.CONFIDENCE)
    score = lambda w, b: (lambda r: b + sum(w[k] * r["features"][k] for k in keys) >= 0)
    report("the product's weights", tally(rows, score(support.CONFIDENCE, support.CONFIDENCE_BIAS)))
    held = {}
    for name in sorted({r["set"] for r in rows}):
        w, b = fit([r for r in rows if r["set"] != name], keys)
        held.update({id(r): score(w, b)(r) for r in rows if r["set"] == name and r["features"] is not None})
    report("each set held out (fitted on the others)", tally(rows, lambda r: held[id(r)]))
    w, b = fit(rows, keys)
    report("fitted on all sets", tally(rows, score(w, b)))
    print("CONFIDENCE =", {k: round(v, 3) for k, v in w.items()}, " CONFIDENCE_BIAS =", round(b, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
