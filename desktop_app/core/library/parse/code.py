"""Source code: one section per top-level definition."""

from __future__ import annotations

import re
from typing import Iterable, Optional

from desktop_app.core.library.parse.formats import _MAX_PARAGRAPH

# Which output this parser gives (``parser_upgrade``): bump it whenever a change
# alters the blocks of some file, and libraries parse those files again.
PARSER_VERSION = 1

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
