#!/usr/bin/env python3
"""Checker for doc_answers_blind4.jsonl (stdlib only; own HTML/Markdown text extraction).

For every factual line:
  (a) the quote occurs (whitespace-normalised) in the visible text of the first answer file;
  (b) the first gold pattern matches (case-insensitive, whole word/number) in the quote
      (reported as a note, not a problem: for two name questions the defining sentence omits the name);
  (c) the first gold pattern matches in every listed answer file;
  (d) every path exists, is .html (apache) or .md (nodejs, not all.md), gold patterns are lower-case.
Off-topic lines must have gold null, quote null, answers [] and gold_patterns [].
"""
import html, json, os, re, sys
from html.parser import HTMLParser

ROOTS = {"apache": "/usr/share/doc/apache2-doc/manual/en", "nodejs": "/usr/share/doc/nodejs/api"}
BLOCK = {"p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "tr", "td", "th", "table", "h1", "h2", "h3",
         "h4", "h5", "h6", "pre", "blockquote", "section", "article", "header", "footer", "nav", "hr",
         "title", "caption", "tbody", "thead"}

class _Text(HTMLParser):
    def __init__(self, sep):
        super().__init__(convert_charrefs=True)
        self.sep, self.out, self.skip = sep, [], 0
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"): self.skip += 1
        elif tag in BLOCK and self.sep: self.out.append("\n")
    def handle_endtag(self, tag):
        if tag in ("script", "style"): self.skip = max(0, self.skip - 1)
        elif tag in BLOCK and self.sep: self.out.append("\n")
    def handle_data(self, d):
        if not self.skip: self.out.append(d)

def html_text(raw, sep=True):
    p = _Text(sep); p.feed(raw); p.close()
    return "".join(p.out)

def md_plain(raw):
    """Rendered-text approximation of Markdown: drop comments, link targets, code ticks, emphasis marks."""
    t = re.sub(r"<!--.*?-->", " ", raw, flags=re.S)
    t = re.sub(r"\[([^\]]*)\]\[[^\]]*\]", r"\1", t)
    t = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", t)
    t = t.replace("`", "").replace("**", "")
    t = re.sub(r"(?<![\w*])\*(\S[^*\n]*?)\*(?![\w*])", r"\1", t)
    t = re.sub(r"(?<!\w)_(\S[^_\n]*?)_(?!\w)", r"\1", t)
    return html.unescape(t)

def norm(s):
    return re.sub(r"\s+", " ", s).strip()

_cache = {}
def texts(path):
    """(primary visible text, secondary variant). HTML: block-separated / plain concatenation.
    Markdown: rendered-text approximation / raw source."""
    if path not in _cache:
        raw = open(path, encoding="utf-8", errors="replace").read()
        if path.endswith(".md"):
            _cache[path] = (norm(md_plain(raw)), norm(raw))
        else:
            _cache[path] = (norm(html_text(raw, True)), norm(html_text(raw, False)))
    return _cache[path]

def pat(p):
    return re.compile(r"(?<!\w)(?:" + p + r")(?!\w)", re.I)

def main(fn):
    rows = [json.loads(l) for l in open(fn, encoding="utf-8") if l.strip()]
    problems, notes, n_fact, n_pairs = [], [], 0, 0
    from collections import Counter
    corpus_count, file_first = Counter(), Counter()
    for i, r in enumerate(rows, 1):
        c = r["corpus"]; corpus_count[c] += 1
        if c == "off-topic":
            if r["gold"] is not None or r["quote"] is not None or r["answers"] or r["gold_patterns"]:
                problems.append(f"line {i}: off-topic line has non-empty fields")
            continue
        n_fact += 1
        root = ROOTS[c]
        ps = r["gold_patterns"]
        if any(p != p.lower() for p in ps): problems.append(f"line {i}: gold pattern not lower-case")
        p0 = pat(ps[0])
        if not p0.search(r["quote"]):
            notes.append(f"line {i}: first pattern {ps[0]!r} is not inside the quote (name question; the quote is the sentence that defines it)")
        q = norm(r["quote"])
        for j, a in enumerate(r["answers"]):
            n_pairs += 1
            path = os.path.join(root, a)
            if not os.path.isfile(path): problems.append(f"line {i}: missing {a}"); continue
            if c == "apache" and not a.endswith(".html"): problems.append(f"line {i}: {a} not .html")
            if c == "nodejs" and (not a.endswith(".md") or a.startswith("all.")): problems.append(f"line {i}: bad nodejs path {a}")
            t1, t2 = texts(path)
            if j == 0:
                file_first[(c, a)] += 1
                if q not in t1: problems.append(f"line {i}: quote not in {a}")
                elif q not in t2: notes.append(f"line {i}: quote found in primary text only (not in secondary variant) of {a}")
            if not p0.search(t1): problems.append(f"line {i}: pattern {ps[0]!r} not in {a}")
    for (c, a), k in file_first.items():
        if k > 2: problems.append(f"{c}:{a} is first answer for {k} questions")
    print(f"lines: {len(rows)}  by corpus: {dict(corpus_count)}  factual: {n_fact}  (question, file) pairs: {n_pairs}")
    for n in notes: print("note:", n)
    for p in problems: print("PROBLEM:", p)
    print("problems:", len(problems))
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "doc_answers_blind4.jsonl")))
