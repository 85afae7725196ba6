"""Turn a file into clean text blocks: PDF, DOCX, HTML, Markdown, reST, text, code.

``parse_file(path)`` checks the file right away (missing, unreadable, empty,
binary, encrypted, corrupt, unsupported all raise ``ParseError`` from the
call itself) and returns an iterator of ``Block``. A problem found only while
reading (a PDF with no text on any page, a text file that is all blank) raises
``ParseError`` from the iteration, so a consumer keeps a file's blocks
tentative until the iterator is exhausted.

The document's *extracted text* is the blocks' texts joined by ``BLOCK_SEP``:
block ``i + 1`` starts at ``block[i].start + len(block[i].text) + len(BLOCK_SEP)``.
Chunk offsets (``chunk.py``) index that same text.

Text-like formats stream: the file is read in pieces and decoded
incrementally (the encoding is detected on a sample), so memory stays bounded
on a file of any size. PDF, DOCX and HTML are parsed by their libraries, which
hold one document (PDF: one page) at a time.
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

from desktop_app.core.library.documents import Block, ParseError

log = logging.getLogger(__name__)

BLOCK_SEP = "\n\n"

TEXT_SUFFIXES = frozenset({".txt", ".text", ".log", ".csv", ".tsv", ".me", ".nfo"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd"})
RST_SUFFIXES = frozenset({".rst", ".rest"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
CODE_SUFFIXES = frozenset({
    ".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".kt", ".kts", ".scala",
    ".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".cs", ".go", ".rs", ".rb", ".php",
    ".swift", ".m", ".mm", ".lua", ".pl", ".pm", ".r", ".jl", ".hs", ".ml", ".ex", ".exs", ".erl",
    ".clj", ".dart", ".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat", ".cmd", ".sql",
    ".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".xml", ".css", ".scss",
    ".less", ".vue", ".svelte", ".tex", ".cmake", ".gradle", ".proto", ".graphql", ".tf",
})
SUPPORTED_SUFFIXES = frozenset(
    {".pdf", ".docx"} | TEXT_SUFFIXES | MARKDOWN_SUFFIXES | RST_SUFFIXES | HTML_SUFFIXES | CODE_SUFFIXES)

# Files named like this are text whatever their (missing) suffix.
_TEXT_NAMES = frozenset({"readme", "license", "copying", "authors", "changelog", "news", "todo",
                         "install", "makefile", "dockerfile"})

_READ_PIECE = 1 << 20          # bytes read at a time from text-like files
_SAMPLE = 64 * 1024            # bytes used to detect the encoding / binary content
_MAX_PARAGRAPH = 32 * 1024     # chars: a longer "paragraph" is cut so memory stays bounded


def is_supported(path) -> bool:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return True
    return suffix == "" and p.name.lower() in _TEXT_NAMES


def parse_file(path: Path) -> Iterator[Block]:
    """Blocks of clean text of ``path``; see the module docstring for errors."""
    path = Path(path)
    if not is_supported(path):
        raise ParseError("unsupported format")
    size = _checked_size(path)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _numbered(_parse_pdf(path))
    if suffix == ".docx":
        return _numbered(_parse_docx(path))
    if suffix in HTML_SUFFIXES:
        return _numbered(_parse_html(_read_small_text(path, size)))
    lines = _text_lines(path)
    if suffix in MARKDOWN_SUFFIXES:
        return _numbered(_parse_markdown(lines))
    if suffix in RST_SUFFIXES:
        return _numbered(_parse_rst(lines))
    if suffix in CODE_SUFFIXES:
        return _numbered(_parse_code(lines, suffix))
    return _numbered(_parse_plain(lines))


# ---------------------------------------------------------------- file access

def _checked_size(path: Path) -> int:
    try:
        st = path.stat()
        if not path.is_file():
            raise ParseError("unsupported format")
        with open(path, "rb") as handle:
            handle.read(1)
    except FileNotFoundError:
        raise ParseError("file vanished") from None
    except PermissionError:
        raise ParseError("unreadable: permission denied") from None
    except IsADirectoryError:
        raise ParseError("unsupported format") from None
    except OSError as exc:
        raise ParseError(f"unreadable: {exc.strerror or exc}") from None
    if st.st_size == 0:
        raise ParseError("empty file")
    return st.st_size


def _open(path: Path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise ParseError("file vanished") from None
    except PermissionError:
        raise ParseError("unreadable: permission denied") from None
    except OSError as exc:
        raise ParseError(f"unreadable: {exc.strerror or exc}") from None


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(sample: bytes) -> str:
    """The encoding of a text sample; raises ParseError("binary file")."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    try:
        # A cut at the sample's end may split a multibyte character.
        sample.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError as exc:
        utf8 = exc.start >= len(sample) - 3 and exc.reason.startswith(("unexpected end", "invalid continuation"))
    if utf8 and b"\x00" not in sample:
        return "utf-8"
    from charset_normalizer import from_bytes

    results = from_bytes(sample)
    best = results.best()
    if best is None:
        raise ParseError("binary file")
    # On short Western samples the detector often ranks a Nordic or Baltic
    # code page first by a hair; cp1252 is by far the likelier legacy encoding.
    western = next((m for m in results if m.encoding == "cp1252"), None)
    if western is not None and best.encoding != "cp1252" and western.chaos <= best.chaos + 0.1 \
            and not best.encoding.startswith(("utf", "big5", "gb", "euc", "shift", "cp932", "cp949")):
        best = western
    encoding = best.encoding
    if b"\x00" in sample and not encoding.startswith(("utf_16", "utf_32")):
        raise ParseError("binary file")
    text = str(best)
    controls = sum(1 for ch in text if ch < " " and ch not in "\t\n\r\f\v")
    if controls > max(8, len(text) // 100):
        raise ParseError("binary file")
    return encoding


def _text_lines(path: Path) -> Iterator[str]:
    """Decoded lines of a text file, read in pieces (bounded memory).

    Checks the sample eagerly so that binary files fail at the call."""
    handle = _open(path)
    try:
        sample = handle.read(_SAMPLE)
        encoding = detect_encoding(sample)
    except BaseException:
        handle.close()
        raise
    return _decoded_lines(handle, sample, encoding)


def _decoded_lines(handle, first: bytes, encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    pending = ""
    with handle:
        piece = first
        while True:
            final = not piece
            text = decoder.decode(piece, final=final)
            if text:
                pending += text.replace("\r\n", "\n").replace("\r", "\n")
                lines = pending.split("\n")
                pending = lines.pop()
                yield from lines
                while len(pending) > _MAX_PARAGRAPH:  # an endless line: hand it out in pieces
                    cut = pending.rfind(" ", _MAX_PARAGRAPH // 2, _MAX_PARAGRAPH)
                    cut = cut if cut > 0 else _MAX_PARAGRAPH
                    yield pending[:cut]
                    pending = pending[cut:]
            if final:
                break
            try:
                piece = handle.read(_READ_PIECE)
            except OSError as exc:
                raise ParseError(f"unreadable: {exc.strerror or exc}") from None
    if pending:
        yield pending


def _read_small_text(path: Path, size: int) -> str:
    with _open(path) as handle:
        data = handle.read()
    encoding = detect_encoding(data[:_SAMPLE])
    head = data[:2048].lower()
    match = re.search(rb"<meta[^>]+charset=[\"']?([a-z0-9_\-]+)", head)
    if match and not encoding.startswith(("utf_16", "utf-16", "utf_32", "utf-32", "utf-8-sig")):
        declared = match.group(1).decode("ascii")
        try:
            codecs.lookup(declared)
            encoding = declared
        except LookupError:
            pass
    return data.decode(encoding, errors="replace")


# ---------------------------------------------------------------- numbering

def _numbered(items: Iterable[tuple[str, Optional[int], Optional[str]]]) -> Iterator[Block]:
    """(text, page, section) -> Blocks with consecutive offsets; nothing -> "empty file"."""
    start = 0
    any_text = False
    for text, page, section in items:
        text = text.rstrip().lstrip("\n")   # keep a code block's first indentation
        if not text.strip():
            continue
        any_text = True
        yield Block(text=text, page=page, section=section, start=start)
        start += len(text) + len(BLOCK_SEP)
    if not any_text:
        raise ParseError("empty file")


def normalize_space(text: str) -> str:
    return " ".join(text.replace("\xad", "").split())


class _Sections:
    """A heading path: set(level, title) -> "A > B > C"."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, str]] = []

    def set(self, level: int, title: str) -> None:
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    @property
    def path(self) -> Optional[str]:
        return " > ".join(t for _, t in self._stack) or None


def _paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Blank-line separated paragraphs, each cut at _MAX_PARAGRAPH chars."""
    buf: list[str] = []
    size = 0
    for line in lines:
        if line.strip():
            buf.append(line)
            size += len(line) + 1
            if size > _MAX_PARAGRAPH:
                yield "\n".join(buf)
                buf, size = [], 0
        elif buf:
            yield "\n".join(buf)
            buf, size = [], 0
    if buf:
        yield "\n".join(buf)


# ---------------------------------------------------------------- plain text

_COLUMN_GAP = re.compile(r"\s{2,}|\t+")


def _aligned_table(para: str) -> Optional[str]:
    """A paragraph laid out as columns (every line splits on runs of 2+
    spaces or tabs into the same 3+ cells, some of them numbers) as a pipe
    table, "| a | b | c | | d | e | f |": collapsing its whitespace would
    lose which number sits under which heading."""
    lines = para.split("\n")
    if len(lines) < 2:
        return None
    rows = [[c for c in _COLUMN_GAP.split(line.strip())] for line in lines]
    width = len(rows[0])
    if width < 3 or any(len(row) != width for row in rows):
        return None
    if not any(re.fullmatch(r"[-+$€£]?[\d,]*\.?\d+%?", cell) for row in rows[1:] for cell in row):
        return None
    return " ".join("| " + " | ".join(normalize_space(c) for c in row) + " |" for row in rows)


def _parse_plain(lines: Iterable[str]):
    for para in _paragraphs(lines):
        yield _aligned_table(para) or normalize_space(para), None, None


# ---------------------------------------------------------------- markdown

_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_MD_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S+")
_MD_EMPH = re.compile(r"(\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w))")
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]{0,200}>")


def _md_inline(text: str) -> str:
    text = _MD_IMAGE.sub(r"\1", text)
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MD_EMPH.sub("", text).replace("`", "")
    return normalize_space(text)


def _parse_markdown(lines: Iterable[str]):
    sections = _Sections()
    para: list[str] = []
    fence: Optional[str] = None
    code: list[str] = []

    def flush():
        if para:
            text = _md_inline(" ".join(para))
            para.clear()
            return text
        return None

    for line in lines:
        if fence is not None:
            if line.strip().startswith(fence):
                fence = None
                yield "\n".join(code), None, sections.path
                code.clear()
            else:
                code.append(line.rstrip())
                if sum(len(c) for c in code) > _MAX_PARAGRAPH:
                    yield "\n".join(code), None, sections.path
                    code.clear()
            continue
        m = _FENCE.match(line)
        if m:
            text = flush()
            if text:
                yield text, None, sections.path
            fence = m.group(1)[0] * 3
            continue
        m = _ATX.match(line)
        if m:
            text = flush()
            if text:
                yield text, None, sections.path
            title = _md_inline(m.group(2) or "")
            if title:
                sections.set(len(m.group(1)), title)
                yield title, None, sections.path
            continue
        m = _SETEXT.match(line)
        if m and para:
            title = flush()
            if title:
                sections.set(1 if m.group(1)[0] == "=" else 2, title)
                yield title, None, sections.path
            continue
        if not line.strip():
            text = flush()
            if text:
                yield text, None, sections.path
            continue
        if _MD_REF_DEF.match(line):
            continue
        stripped = line.strip()
        if re.fullmatch(r"\|?[\s:|-]+\|?", stripped) and "-" in stripped and "|" in stripped:
            continue  # table separator row
        para.append(stripped.lstrip(">").strip() if stripped.startswith(">") else stripped)
        if sum(len(p) for p in para) > _MAX_PARAGRAPH:
            yield flush(), None, sections.path
    if code:
        yield "\n".join(code), None, sections.path
    text = flush()
    if text:
        yield text, None, sections.path


# ---------------------------------------------------------------- reStructuredText

_RST_ADORN = re.compile(r"^([=\-~^\"'`#*+:.<>_])\1{2,}\s*$")
_RST_ROLE = re.compile(r":[a-zA-Z:+-]+:`([^`<]*?)(?:\s*<[^>]*>)?`")
_RST_LINK = re.compile(r"`([^`<]+?)\s*<[^>]*>`__?")
_RST_MARKUP = re.compile(r"``|\*\*|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)|`_{0,2}|(?<=\w)_(?!\w)")


def _rst_inline(text: str) -> str:
    text = _RST_ROLE.sub(r"\1", text)
    text = _RST_LINK.sub(r"\1", text)
    text = _RST_MARKUP.sub("", text)
    return normalize_space(text)


def _parse_rst(lines: Iterable[str]):
    sections = _Sections()
    styles: list[tuple[str, bool]] = []   # adornment styles in order of first use = levels
    para: list[str] = []
    overline: Optional[str] = None

    def level_of(style) -> int:
        if style not in styles:
            styles.append(style)
        return styles.index(style) + 1

    for line in lines:
        adorn = _RST_ADORN.match(line)
        if adorn:
            char = adorn.group(1)
            if not para:
                overline = char      # may be the overline of a title; confirmed by the underline
                continue
            is_title = len(para) == 1 and (overline is not None or len(line.rstrip()) >= len(para[0]) - 1)
            if is_title:
                title = _rst_inline(para[-1])
                before = para[:-1]
                para.clear()
                if before:
                    yield _rst_inline(" ".join(before)), None, sections.path
                if title:
                    sections.set(level_of((char, overline is not None)), title)
                    yield title, None, sections.path
                overline = None
                continue
        if not line.strip():
            overline = None
            if para:
                yield _rst_inline(" ".join(para)), None, sections.path
                para.clear()
            continue
        stripped = line.strip()
        if not para and overline is None and stripped.startswith(".. ") and (
                stripped.startswith((".. _", ".. |")) or stripped == ".."):
            continue  # link targets and substitution definitions
        para.append(stripped)
        if sum(len(p) for p in para) > _MAX_PARAGRAPH:
            yield _rst_inline(" ".join(para)), None, sections.path
            para.clear()
    if para:
        yield _rst_inline(" ".join(para)), None, sections.path


# ---------------------------------------------------------------- source code

_DEF_PATTERNS = {
    "py": re.compile(r"^\s*(?:async\s+)?(?:def|class)\s+([A-Za-z_]\w*)"),
    "rb": re.compile(r"^\s*(?:def|class|module)\s+([A-Za-z_][\w.:]*)"),
    "go": re.compile(r"^func\s+(?:\([^)]*\)\s*)?([A-Za-z_]\w*)|^type\s+([A-Za-z_]\w*)"),
    "rs": re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:fn|struct|enum|trait|impl|mod)\s+"
                     r"(?:<[^>]*>\s*)?([A-Za-z_]\w*)"),
    "js": re.compile(r"^\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\*?|class|interface)\s+"
                     r"([A-Za-z_$][\w$]*)|^\s*(?:export\s+)?(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*"
                     r"(?:async\s*)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*=>"),
    "java": re.compile(r"^\s*(?:(?:public|private|protected|static|final|abstract|sealed|open|override|"
                       r"internal|data|suspend)\s+)*(?:class|interface|enum|record|fun|object)\s+([A-Za-z_]\w*)"
                       r"|^\s+(?:(?:public|private|protected|static|final|abstract|synchronized)\s+)+"
                       r"[\w<>\[\], ]+\s+([A-Za-z_]\w*)\s*\("),
    "c": re.compile(r"^(?:[A-Za-z_][\w\s\*]*?[\s\*])?([A-Za-z_]\w*)\s*\([^;]*$|^(?:struct|class|enum|union)\s+"
                    r"([A-Za-z_]\w*)\s*\{?\s*$"),
    "sh": re.compile(r"^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)"),
    "sql": re.compile(r"^\s*create\s+(?:or\s+replace\s+)?(?:table|view|function|procedure|index)\s+"
                      r"(?:if\s+not\s+exists\s+)?([\w.\"`]+)", re.IGNORECASE),
    "ini": re.compile(r"^\s*\[\[?([^\]]+)\]\]?\s*$"),
}
_LANG = {
    ".py": "py", ".pyi": "py", ".rb": "rb", ".go": "go", ".rs": "rs",
    ".js": "js", ".mjs": "js", ".cjs": "js", ".jsx": "js", ".ts": "js", ".tsx": "js", ".vue": "js", ".svelte": "js",
    ".java": "java", ".kt": "java", ".kts": "java", ".scala": "java", ".cs": "java", ".dart": "java",
    ".c": "c", ".h": "c", ".cc": "c", ".cpp": "c", ".cxx": "c", ".hpp": "c", ".hh": "c", ".hxx": "c",
    ".m": "c", ".mm": "c", ".php": "js", ".swift": "java",
    ".sh": "sh", ".bash": "sh", ".zsh": "sh", ".sql": "sql", ".toml": "ini", ".ini": "ini", ".cfg": "ini",
    ".conf": "ini",
}


def _parse_code(lines: Iterable[str], suffix: str):
    """Blank-line separated runs of lines; section = enclosing definitions by
    indentation ("Class.method"), found by a cheap per-language regex."""
    pattern = _DEF_PATTERNS.get(_LANG.get(suffix, ""))
    scopes: list[tuple[int, str]] = []
    buf: list[str] = []
    buf_section: Optional[str] = None
    size = 0

    def current() -> Optional[str]:
        return ".".join(name for _, name in scopes) or None

    for line in lines:
        line = line.rstrip()
        if pattern is not None and line:
            m = pattern.match(line)
            if m:
                name = next((g for g in m.groups() if g), None)
                if name:
                    indent = len(line) - len(line.lstrip())
                    while scopes and scopes[-1][0] >= indent:
                        scopes.pop()
                    scopes.append((indent, name.strip('"`')))
                    if buf and current() != buf_section:
                        yield "\n".join(buf), None, buf_section
                        buf, size = [], 0
        if not line:
            if buf:
                yield "\n".join(buf), None, buf_section
                buf, size = [], 0
            continue
        if not buf:
            buf_section = current()
        buf.append(line)
        size += len(line) + 1
        if size > _MAX_PARAGRAPH:
            yield "\n".join(buf), None, buf_section
            buf, size = [], 0
    if buf:
        yield "\n".join(buf), None, buf_section


# ---------------------------------------------------------------- PDF

# PDFium is not thread-safe: every call into it, from any thread, holds this lock.
_PDFIUM_LOCK = threading.Lock()

_SOFT_HYPHENS = re.compile("[\ufffe\x02\xad]")
_HYPHEN_BREAK = re.compile(r"(\w)-[ \t]*\n[ \t]*(?=[a-z\u00e0-\u00ff])")
_SENTENCE_END = ("." , "!", "?", ":", "\u201d", '"')


def _parse_pdf(path: Path):
    """Open eagerly (so encrypted/corrupt fail at the call), then one page at a time."""
    import pypdfium2 as pdfium

    with _open(path) as handle:
        magic = handle.read(1024)
    if b"%PDF" not in magic:
        raise ParseError("corrupt PDF")
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(str(path))
            n_pages = len(pdf)
            toc = _pdf_toc(pdf)
        except pdfium.PdfiumError as exc:
            message = str(exc).lower()
            if "password" in message or "security" in message:
                raise ParseError("encrypted PDF") from None
            if "file access" in message or "not found" in message:
                raise ParseError("file vanished") from None
            raise ParseError("corrupt PDF") from None
    return _pdf_pages(pdf, n_pages, toc)


def _pdf_toc(pdf) -> list[tuple[int, int, str]]:
    """(page_index, level, title) of the bookmarks, in order; [] when there are none."""
    entries = []
    try:
        for item in pdf.get_toc(max_depth=6):
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            title = normalize_space(item.get_title() or "")
            if index is not None and title:
                entries.append((index, item.level, title))
    except Exception:  # a broken outline must not cost the text
        log.debug("ignoring unreadable PDF outline", exc_info=True)
        return []
    return entries


def _pdf_pages(pdf, n_pages: int, toc):
    sections = _Sections()
    recent_edges: list[tuple[str, str]] = []   # (first, last) line shapes of the previous pages
    yielded = False
    toc_i = 0
    try:
        for index in range(n_pages):
            with _PDFIUM_LOCK:
                try:
                    page = pdf[index]
                    textpage = page.get_textpage()
                    raw = textpage.get_text_range()
                    textpage.close()
                    page.close()
                except Exception:
                    log.warning("PDF page %d unreadable; skipped", index + 1, exc_info=True)
                    continue
            lines = _pdf_lines(raw)
            lines = _drop_running_heads(lines, recent_edges)
            # Bookmarks pointing at this page switch the section at their heading line.
            starts: dict[int, list[tuple[int, str]]] = {}
            line_at = 0
            while toc_i < len(toc) and toc[toc_i][0] <= index:
                _, level, title = toc[toc_i]
                line_at = _find_heading(lines, title, line_at)
                starts.setdefault(line_at, []).append((level, title))
                toc_i += 1
            para: list[str] = []
            typical = _typical_width(lines)
            for i, line in enumerate(lines):
                if i in starts:
                    if para:
                        yielded = True
                        yield normalize_space(" ".join(para)), index + 1, sections.path
                        para = []
                    for level, title in starts[i]:
                        sections.set(level, title)
                para.append(line)
                if _ends_paragraph(line, typical):
                    yielded = True
                    yield normalize_space(" ".join(para)), index + 1, sections.path
                    para = []
            if para:
                yielded = True
                yield normalize_space(" ".join(para)), index + 1, sections.path
    finally:
        with _PDFIUM_LOCK:
            pdf.close()
    if not yielded:
        raise ParseError("no text (scanned PDF?)")


def _pdf_lines(raw: str) -> list[str]:
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _SOFT_HYPHENS.sub("", text)   # PDFium marks a soft hyphen it already joined
    text = _HYPHEN_BREAK.sub(r"\1", text)
    return [line.strip() for line in text.split("\n") if line.strip()]


def _shape(line: str) -> str:
    return re.sub(r"[\d\s]+", "", line.lower())


def _drop_running_heads(lines: list[str], recent: list[tuple[str, str]]) -> list[str]:
    """Drop a first/last line that repeats (digits aside) on one of the two previous pages."""
    if not lines:
        return lines
    first, last = _shape(lines[0]), _shape(lines[-1])
    seen_first = {f for f, _ in recent} | {l for _, l in recent}
    recent.append((first, last))
    del recent[:-2]
    out = lines
    if len(out) > 1 and first in seen_first:
        out = out[1:]
    if len(out) > 1 and last in seen_first:
        out = out[:-1]
    # A bare page number is never content.
    return [l for l in out if not re.fullmatch(r"[-\u2013 ]*\d{1,4}[-\u2013 ]*", l)]


def _find_heading(lines: list[str], title: str, after: int) -> int:
    """Index (>= after) of the line where a bookmark's heading is; ``after`` when not found."""
    want = title.lower()
    number = re.match(r"^(\d+(?:\.\d+)*\.?)\s", title)
    for i in range(after, len(lines)):
        low = lines[i].lower()
        if low == want or (len(low) < len(want) + 40 and low.startswith(want)):
            return i
        if number and low.startswith(number.group(1) + " ") and len(low) < 120:
            return i
    return after


def _typical_width(lines: list[str]) -> int:
    widths = sorted(len(l) for l in lines)
    return widths[int(len(widths) * 0.75)] if widths else 0


def _ends_paragraph(line: str, typical: int) -> bool:
    if len(line) < typical * 0.5:
        return True   # a short line: heading, list item, last line of a paragraph
    return line.endswith(_SENTENCE_END) and len(line) < typical * 0.85


# ---------------------------------------------------------------- DOCX

def _parse_docx(path: Path):
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:   # zip, XML and package errors all mean the same to the user
        log.debug("DOCX open failed for %s", path, exc_info=True)
        if _is_ole_encrypted(path):
            raise ParseError("encrypted DOCX") from None
        if isinstance(exc, FileNotFoundError):
            raise ParseError("file vanished") from None
        raise ParseError("corrupt DOCX") from None
    return _docx_blocks(document)


def _is_ole_encrypted(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(4 << 20)
    except OSError:
        return False
    return head.startswith(b"\xd0\xcf\x11\xe0") and "EncryptedPackage".encode("utf-16-le") in head


_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _docx_blocks(document):
    from docx.table import Table

    sections = _Sections()
    try:
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                yield from ((text, None, sections.path) for text in _docx_table(item))
                continue
            text = normalize_space(item.text)
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            m = _HEADING_STYLE.match(style)
            if m or style.lower() == "title":
                sections.set(int(m.group(1)) if m else 0, text)
            yield text, None, sections.path
    except ParseError:
        raise
    except Exception:
        log.debug("DOCX body unreadable", exc_info=True)
        raise ParseError("corrupt DOCX") from None


def _docx_table(table) -> Iterator[str]:
    """Rows as "cell | cell" lines, grouped into blocks of bounded size."""
    rows: list[str] = []
    size = 0
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = normalize_space(cell.text)
            if text and (not cells or cells[-1] != text):   # merged cells repeat their text
                cells.append(text)
        if cells:
            line = " | ".join(cells)
            rows.append(line)
            size += len(line)
            if size > _MAX_PARAGRAPH // 4:
                yield "\n".join(rows)
                rows, size = [], 0
    if rows:
        yield "\n".join(rows)


# ---------------------------------------------------------------- HTML

# Navigation and page furniture, including what Sphinx, MkDocs and common CMS themes add.
_HTML_DROP = ", ".join([
    "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form", "button",
    "input", "select", "textarea", "svg", "iframe", "object", "head",
    "[role=navigation]", "[role=search]", "[role=banner]", "[role=contentinfo]", "[aria-hidden=true]",
    "div.sphinxsidebar", "div.related", "div.footer", "div.mobile-nav", "div.menu-wrapper",
    "div.inline-search", "a.headerlink", "div.breadcrumbs", "div.breadcrumb", "ul.breadcrumb",
    "ol.breadcrumb", ".breadcrumbs", ".breadcrumb", "div.sidebar", "#sidebar", ".sidebar-nav",
    "div.toctree-wrapper", "nav.contents", "div.contents.topic", "div.rst-footer-buttons",
    ".skip-link", ".cookie-banner", "#cookie-banner", ".related-posts", ".share-buttons",
])
_HTML_MAIN = ("[role=main]", "main", "article", "div.body", "div#content", "div.content")
_HTML_BLOCK = frozenset({
    "p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "blockquote",
    "figure", "figcaption", "caption", "table", "thead", "tbody", "tfoot", "address", "details",
    "summary", "hr", "body", "center", "fieldset", "legend",
})
_HTML_HEADINGS = {f"h{i}": i for i in range(1, 7)}


def _parse_html(html: str):
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for node in tree.css(_HTML_DROP):
        node.decompose()
    root = None
    for selector in _HTML_MAIN:
        root = tree.css_first(selector)
        if root is not None:
            break
    if root is None:
        root = tree.body or tree.root
    if root is None:
        return
    yield from _html_walk(root)


_DOTTED_NAME = re.compile(r"[A-Za-z_][\w.]*$")


def _api_name(dt) -> Optional[str]:
    """"shutil.copytree" from its anchor; the entry's own text ("-O", "PYTHONPATH")
    when the anchor is not a dotted name ("cmdoption-O")."""
    anchor = dt.attributes.get("id") or ""
    if _DOTTED_NAME.match(anchor):
        return anchor
    text = normalize_space(dt.text(deep=True, separator=""))
    return text[:80] or None


def _html_walk(root):
    sections = _Sections()
    inline: list[str] = []
    # API entries (Sphinx/Doxygen-like <dl><dt id="shutil.copytree" class="sig ...">) are
    # sub-sections: a citation names the function, and chunks split between entries.
    api: list[Optional[str]] = []

    def where() -> Optional[str]:
        name = next((a for a in reversed(api) if a), None)
        if name is None:
            return sections.path
        return f"{sections.path} > {name}" if sections.path else name

    def flush():
        text = normalize_space("".join(inline))
        inline.clear()
        return text

    # Iterative walk: ("enter", node) / ("leave", tag); deep pages must not hit the recursion limit.
    stack: list = [("enter", root)]
    while stack:
        action, node = stack.pop()
        if action == "leave":
            text = flush()
            if text:
                yield text, None, where()
            if node == "dl":
                api.pop()
            continue
        tag = node.tag
        if tag == "-text":
            inline.append(node.text_content or "")
            continue
        if tag in ("-comment", "-doctype") or tag is None:
            continue
        if tag in _HTML_HEADINGS:
            text = flush()
            if text:
                yield text, None, where()
            title = normalize_space(node.text(deep=True, separator=" "))
            if title:
                sections.set(_HTML_HEADINGS[tag], title)
                yield title, None, where()
            continue
        if tag == "pre":
            text = flush()
            if text:
                yield text, None, where()
            code = node.text(deep=True, separator="").strip("\n")
            if code.strip():
                yield "\n".join(l.rstrip() for l in code.split("\n")), None, where()
            continue
        if tag == "tr":
            text = flush()
            if text:
                yield text, None, where()
            cells = [normalize_space(c.text(deep=True, separator=" ")) for c in node.iter() if c.tag in ("td", "th")]
            row = " | ".join(c for c in cells if c)
            if row:
                yield row, None, where()
            continue
        if tag == "br":
            inline.append(" ")
            continue
        if tag == "img":
            alt = node.attributes.get("alt")
            if alt:
                inline.append(f" {alt} ")
            continue
        block = tag in _HTML_BLOCK
        if block:
            text = flush()
            if text:
                yield text, None, where()
            stack.append(("leave", tag))
            if tag == "dl":
                api.append(None)
            elif tag == "dt" and api and "sig" in (node.attributes.get("class") or "").split():
                api[-1] = _api_name(node) or api[-1]
        children = list(node.iter(include_text=True))
        for child in reversed(children):
            stack.append(("enter", child))
        if not block and tag not in ("span", "a", "code", "em", "strong", "b", "i", "sub", "sup", "tt",
                                     "kbd", "var", "samp", "abbr", "cite", "q", "small", "mark", "u", "s"):
            # unknown inline-ish elements: keep words apart
            inline.append(" ")
    text = flush()
    if text:
        yield text, None, where()
