"""How an answer's text becomes what the user sees.

A model's text is not Markdown someone wrote on purpose: a Python prompt
(``>>> x = 1``) is a blockquote to a Markdown parser, ``*`` in ``2 * 3``
starts emphasis, four spaces of output become a code block by accident, and
one line break is dropped. So the text is shown as text: HTML-escaped,
paragraphs and line breaks kept, with only three things recognised:

- code blocks: fenced blocks (```), interactive Python sessions (a run of
  lines starting with ``>>>``/``...`` and the output lines after them), and
  lines indented by four spaces or a tab after a paragraph break; shown in a
  monospace box with the lines preserved and a "Copy code" link;
- inline code between single backticks;
- the ``[n]`` citation markers, as links the viewer opens.

Qt-free (plain string work); the chat page puts the HTML in a QTextBrowser.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

_FENCE = re.compile(r"^\s*```")
_PROMPT = re.compile(r"^\s*(>>>|\.\.\.)(\s|$)")
_INDENTED = re.compile(r"^( {4}|\t)")
_MARKER = re.compile(r"\[(\d{1,2})\]")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Block:
    kind: str      # "text" | "code"
    text: str


def split_blocks(text: str) -> list[Block]:
    """The text as alternating prose and code blocks (see the module doc)."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    prose: list[str] = []

    def flush_prose() -> None:
        if any(line.strip() for line in prose):
            blocks.append(Block("text", "\n".join(prose).strip("\n")))
        prose.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush_prose()
            code = []
            i += 1
            while i < len(lines) and not _FENCE.match(lines[i]):
                code.append(lines[i])
                i += 1
            i += 1  # the closing fence (or the end of a still-streaming block)
            blocks.append(Block("code", "\n".join(code).strip("\n")))
            continue
        if _PROMPT.match(line):
            flush_prose()
            code = []
            # The session and its output, up to a blank line or prose that
            # follows a blank line.
            while i < len(lines) and lines[i].strip():
                code.append(lines[i])
                i += 1
            blocks.append(Block("code", "\n".join(_dedent(code))))
            continue
        starts_paragraph = not prose or not prose[-1].strip()
        if _INDENTED.match(line) and line.strip() and starts_paragraph:
            flush_prose()
            code = []
            while i < len(lines) and (_INDENTED.match(lines[i]) or not lines[i].strip()):
                code.append(lines[i])
                i += 1
            blocks.append(Block("code", "\n".join(_dedent(code)).strip("\n")))
            continue
        prose.append(line)
        i += 1
    flush_prose()
    return blocks


def _dedent(lines: list[str]) -> list[str]:
    widths = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return [line[cut:] for line in lines]


def _prose_html(text: str, numbers: set[int]) -> str:
    escaped = html.escape(text, quote=False)
    escaped = _INLINE_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)

    def link(match):
        n = int(match.group(1))
        return f'<a href="cite:{n}">[{n}]</a>' if n in numbers else match.group(0)

    escaped = _MARKER.sub(link, escaped)
    paragraphs = re.split(r"\n\s*\n", escaped)
    return "".join(f"<p>{p.strip().replace(chr(10), '<br>')}</p>" for p in paragraphs if p.strip())


def answer_html(text: str, numbers: set[int] = frozenset(), *, code_background: str = "#f1eeea",
                border: str = "#d9d4cf", tail: str = "") -> tuple[str, list[str]]:
    """(HTML, the code blocks' texts). ``tail`` is appended to the last
    paragraph (the streaming cursor); ``copy:i`` links copy code block i."""
    blocks = split_blocks(text)
    if tail and blocks and blocks[-1].kind == "text":
        blocks[-1] = Block("text", blocks[-1].text + tail)
        tail = ""
    parts: list[str] = []
    codes: list[str] = []
    for block in blocks:
        if block.kind == "code":
            index = len(codes)
            codes.append(block.text)
            parts.append(
                f'<table width="100%" cellspacing="0" cellpadding="6" border="0" '
                f'style="background-color:{code_background}; border: 1px solid {border}; '
                f'margin-top: 4px; margin-bottom: 4px;">'
                f'<tr><td align="right"><a href="copy:{index}">Copy code</a></td></tr>'
                f'<tr><td><pre style="font-family: monospace; margin: 0;">'
                f"{html.escape(block.text, quote=False)}</pre></td></tr></table>")
        else:
            parts.append(_prose_html(block.text, numbers))
    if tail:
        parts.append(f"<p>{html.escape(tail, quote=False)}</p>")
    return "".join(parts), codes
