"""How a cited passage is shown in the viewer's passage box: prose as
paragraphs, code as code (monospace, its lines and indentation kept).

A passage is the parser's blocks joined by blank lines. The parsers join a
paragraph's lines into one (HTML, PDF, DOCX, Markdown and text paragraphs);
only code keeps line breaks (``<pre>``, fenced blocks, source files). So a
block is code when the document is a source file, or when it has an
interactive prompt, or when it runs over several lines and one of them looks
like code (``CODE_SIGNS``), or when its one line is a whole statement
(``ONE_LINE_SIGNS``: code with blank lines inside comes in such pieces). A
one-line piece that looks like code and follows code stays in the same box.

Qt-free (plain string work); the viewer puts the HTML in a QTextBrowser.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_PROMPT = re.compile(r"^\s*(>>>|\.\.\.|\$|In \[\d+\]:)(\s|$)", re.MULTILINE)
# Scope: blocks of a passage cut by the library's parsers (see the module
# doc). Each sign is enough for a block of several lines; prose blocks of
# several lines are rare there, so the signs can be plain.
CODE_SIGNS = (
    ("a line indented under another (not a list item)",
     re.compile(r"^\S.*\n[ \t]{2,}(?![-*\u2022]\s|\d+[.)]\s)\S", re.MULTILINE)),
    ("a line ending in a colon, brace, bracket or semicolon",
     re.compile(r"[:{}\[(;]\s*$", re.MULTILINE)),
    ("an assignment or a call on a line of its own",
     re.compile(r"^\s*[\w.\[\]\"']+\s*(=|\+=|-=|:=)\s*\S|^\s*[\w.]+\(.*\)[;,]?\s*$", re.MULTILINE)),
    ("a comment line", re.compile(r"^\s*(#|//|/\*|--)\s", re.MULTILINE)),
)
# A one-line block is code only when the whole line is a statement; a line
# of prose is a sentence and matches none of these.
ONE_LINE_SIGNS = (
    ("an import", re.compile(r"^\s*(from\s+[\w.]+\s+)?import\s+[\w.*]+(\s*,\s*[\w.]+)*(\s+as\s+\w+)?\s*$")),
    ("a call and nothing else", re.compile(r"^\s*[\w.]+\(.*\)[;,]?\s*$")),
    ("an assignment", re.compile(r"^\s*[\w.\[\]\"']+\s*(=|\+=|-=|:=)\s*[^\s=].*[^.!?]\s*$")),
    ("a compound statement's header",
     re.compile(r"^\s*(def|class|for|while|if|elif|else|try|except|finally|with|async def)\b.*:\s*$")),
)


@dataclass(frozen=True)
class PassagePart:
    kind: str      # "text" | "code"
    text: str


def looks_like_code(block: str) -> bool:
    if _PROMPT.search(block):
        return True
    if "\n" not in block.strip("\n"):
        return any(pattern.match(block) for _name, pattern in ONE_LINE_SIGNS)
    return (any(pattern.search(block) for _name, pattern in CODE_SIGNS)
            or any(pattern.match(line) for line in block.split("\n") for _name, pattern in ONE_LINE_SIGNS))


def _one_line_code(block: str) -> bool:
    """A line that continues code after a blank line (a comment counts too)."""
    return "\n" not in block and any(pattern.search(block) for _name, pattern in CODE_SIGNS[2:])


def passage_parts(text: str, source_is_code: bool = False) -> list[PassagePart]:
    """The passage as prose and code parts, in order."""
    text = text.replace("\r\n", "\n").strip("\n")
    if not text.strip():
        return []
    if source_is_code:
        return [PassagePart("code", text)]
    parts: list[PassagePart] = []
    for block in re.split(r"\n[ \t]*\n", text):
        if not block.strip():
            continue
        previous = parts[-1] if parts else None
        if looks_like_code(block) or (previous is not None and previous.kind == "code"
                                      and _one_line_code(block)):
            if previous is not None and previous.kind == "code":
                parts[-1] = PassagePart("code", previous.text + "\n\n" + block.rstrip())
            else:
                parts.append(PassagePart("code", block.rstrip()))
        else:
            parts.append(PassagePart("text", block.strip()))
    return parts


def passage_html(text: str, *, background: str, foreground: str, code_background: str, border: str,
                 source_is_code: bool = False) -> str:
    """The passage box's HTML: a heading, then each part; prose keeps its
    line breaks, code is a monospace block with its lines and indentation."""
    out = ["<p><b>Cited passage</b></p>"]
    for part in passage_parts(text, source_is_code):
        body = html.escape(part.text, quote=False)
        if part.kind == "code":
            out.append(f'<table width="100%" cellspacing="0" cellpadding="6" border="0" '
                       f'style="background-color:{code_background}; border: 1px solid {border}; '
                       f'margin-top: 2px; margin-bottom: 6px;"><tr><td>'
                       f'<pre style="font-family: monospace; margin: 0;">{body}</pre></td></tr></table>')
        else:
            out.append(f"<p style='white-space: pre-wrap;'><span style='background-color:{background}; "
                       f"color:{foreground}'>{body}</span></p>")
    return "".join(out)
