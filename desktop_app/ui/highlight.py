"""Marking the words of a query in a snippet, as safe HTML."""

from __future__ import annotations

import html
import re

_STOPWORDS = frozenset("""a an and are as at be by for from how i in is it of on or that the this
to was what when where which who why with do does did can you your""".split())


def query_terms(query: str) -> list[str]:
    words = re.findall(r"\w[\w.+#-]*\w|\w", query.lower())
    terms = [w for w in words if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())]
    # Longest first so "hash table" variants don't split a longer match.
    return sorted(set(terms), key=len, reverse=True)


def highlight_html(text: str, query: str, background: str, foreground: str) -> str:
    """``text`` escaped for HTML, with each query term wrapped in a marked span."""
    terms = query_terms(query)
    if not terms:
        return html.escape(text)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in terms) + r")(?!\w)",
                         re.IGNORECASE)
    out, last = [], 0
    for match in pattern.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        out.append(f'<span style="background-color:{background}; color:{foreground}; '
                   f'font-weight:600">{html.escape(match.group(0))}</span>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def snippet(text: str, query: str, width: int = 320) -> str:
    """A window of ``text`` around the first query term, at most ``width`` chars."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    terms = query_terms(query)
    lower = text.lower()
    positions = [lower.find(t) for t in terms if lower.find(t) >= 0]
    first = min(positions) if positions else 0
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    start = max(0, end - width)
    return ("…" if start else "") + text[start:end].strip() + ("…" if end < len(text) else "")
