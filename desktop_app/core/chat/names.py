"""Names a question writes as code, and whether a passage names them.

A dotted or snake_case name, a camelCase word, a command-line flag cannot be
paraphrased: a passage (or a quote) that does not name any of them is about
something else, however close its words ("Default is 100" of another
variable is no answer about ``fetch.retryBackoff``). Used by ``support.py``.
"""

from __future__ import annotations

import re

from desktop_app.core.chat.citations import Source

_CODE_NAME = re.compile(r"(?<![\w.-])(?:--?[A-Za-z][\w-]*|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"
                        r"|[A-Za-z]\w*_\w+|[a-z]+[A-Z]\w*)")


def code_names(text: str) -> set[str]:
    """The names ``text`` writes as code, lower-cased (``_CODE_NAME``)."""
    names = set()
    for name in _CODE_NAME.findall(text):
        if "." in name and all(len(part) <= 1 for part in name.split(".")):
            continue   # "e.g", "i.e"
        names.add(name.lower())
    return names


def names_one(source: Source, names: set[str]) -> bool:
    """Whether the passage (its text, section or file name) names one of
    ``names``; a dotted name counts when its last part and another part are
    there (``copytree`` on the shutil page for ``shutil.copytree``)."""
    hay = " ".join((source.text, source.section or "", source.path.rsplit("/", 1)[-1])).lower()
    for name in names:
        if name in hay or name.startswith("-") and name.lstrip("-") in hay:
            return True
        parts = name.split(".")
        if len(parts) > 1 and parts[-1] in hay and any(p in hay for p in parts[:-1]):
            return True
    return False


def names_other(heading: str, names: set[str]) -> bool:
    """Whether ``heading`` (the entry a quoted sentence stands under) names
    things in code form, none of them one of ``names``: the sentence then
    describes another entry ("autovacuum_work_mem (integer) ... It defaults
    to -1" is no answer about ``maintenance_work_mem``, though it names it).
    A dotted name matches its last part ("FTP.connect" and "ftplib.FTP.connect")."""
    found = code_names(heading)
    return bool(found and names) and not _same(found, names)


def names_match(text: str, names: set[str]) -> bool:
    """Whether ``text`` writes one of ``names`` in code form (a dotted name
    matches its last part: "FTP.connect" and "ftplib.FTP.connect")."""
    return _same(code_names(text), names)


def _same(found: set[str], names: set[str]) -> bool:
    return any(n == h or h.endswith("." + n) or n.endswith("." + h) for n in names for h in found)
