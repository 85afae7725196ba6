"""The file formats Hearth reads, by suffix."""

from __future__ import annotations

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
