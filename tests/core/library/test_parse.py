"""Parsing real files of every supported format, and each kind of bad file."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from desktop_app.core.library.documents import ParseError
from desktop_app.core.library.parse import BLOCK_SEP, SUPPORTED_SUFFIXES, is_supported, parse_file


def parse(path):
    blocks = list(parse_file(Path(path)))
    doc = BLOCK_SEP.join(b.text for b in blocks)
    for b in blocks:   # offsets are consecutive and index the extracted text
        assert doc[b.start:b.start + len(b.text)] == b.text
    return blocks, doc


def reason(path) -> str:
    with pytest.raises(ParseError) as info:
        list(parse_file(Path(path)))
    return info.value.reason


# ---------------------------------------------------------------- plain text

FRENCH = "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles."


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])
def test_text_in_common_encodings(tmp_path, encoding):
    text = FRENCH if encoding != "latin-1" else FRENCH.replace("œ", "oe").replace("Ÿ", "Y")
    if encoding == "cp1252":
        text += " Prix : 5 € – « guillemets »."
    body = "\n\n".join([text] * 3 + ["Une deuxième idée, sur deux\nlignes qui se suivent."])
    path = tmp_path / f"notes-{encoding}.txt"
    path.write_bytes(body.encode(encoding))
    blocks, doc = parse(path)
    assert [b.text for b in blocks[:3]] == [text] * 3
    assert blocks[3].text == "Une deuxième idée, sur deux lignes qui se suivent."
    assert all(b.page is None and b.section is None for b in blocks)


def test_is_supported():
    assert is_supported("a/b/Report.PDF") and is_supported("x.docx") and is_supported("README")
    assert is_supported("main.rs") and is_supported("q.sql") and is_supported("c.yaml")
    assert not is_supported("photo.jpg") and not is_supported("archive.zip")
    assert all(s == s.lower() and s.startswith(".") for s in SUPPORTED_SUFFIXES)


# ---------------------------------------------------------------- markdown

def test_markdown_headings_become_sections(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text(
        "Hearth guide\n============\n\nIntro with a [link](https://example.org) and **bold** text.\n\n"
        "## Install\n\nRun the installer.\nIt takes a minute.\n\n"
        "```sh\n# not a heading\npip install hearth\n```\n\n"
        "### On Linux ###\n\nUse the AppImage.\n\n"
        "Usage\n-----\n\n* one\n* two\n\n"
        "# Other\n\nEnd.\n", encoding="utf-8")
    blocks, _ = parse(path)
    by_text = {b.text: b.section for b in blocks}
    assert by_text["Intro with a link and bold text."] == "Hearth guide"
    assert by_text["Run the installer. It takes a minute."] == "Hearth guide > Install"
    assert by_text["# not a heading\npip install hearth"] == "Hearth guide > Install"
    assert by_text["Use the AppImage."] == "Hearth guide > Install > On Linux"
    # Each list item is a block of its own, as an HTML <li> is.
    assert by_text["one"] == by_text["two"] == "Hearth guide > Usage"
    assert by_text["End."] == "Other"


def test_markdown_list_items_comments_and_table_rows(tmp_path):
    # An API reference as many Markdown docs write it: a parameter list with
    # nested items, change-history comments, and a pipe table.
    path = tmp_path / "api.md"
    path.write_text(
        "## tally.count(items[, options])\n\n<!-- YAML\nadded: v1.2.0\nchanges:\n  - version: v2.0.0\n-->\n\n"
        "* `items` {Array} The values to count.\n* `options` {Object}\n"
        "  * `maxGroups` {number} Specifies the largest number of groups\n    kept. **Default:** `64`.\n"
        "1. first step\n2) second step\n\n"
        "| Flag | Meaning |\n|------|---------|\n| `-v` | verbose |\n\n"
        "Counts the items. <!-- inline note --> Returns a map.\n", encoding="utf-8")
    blocks, doc = parse(path)
    texts = [b.text for b in blocks]
    assert texts == ["tally.count(items[, options])", "items {Array} The values to count.", "options {Object}",
                     "maxGroups {number} Specifies the largest number of groups kept. Default: 64.",
                     "first step", "second step", "Flag | Meaning", "-v | verbose", "Counts the items. Returns a map."]
    assert "YAML" not in doc and "inline note" not in doc


# ---------------------------------------------------------------- failures

def test_empty_and_blank_files(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.md").write_text("\n\n   \n\t\n", encoding="utf-8")
    assert reason(tmp_path / "empty.txt") == "empty file"
    assert reason(tmp_path / "blank.md") == "empty file"


def test_binary_file_with_text_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_bytes(bytes(range(256)) * 64)
    assert reason(path) == "binary file"
    elf = tmp_path / "tool.sh"
    elf.write_bytes(Path("/bin/ls").read_bytes()[:200_000])    # a real executable named like a script
    assert reason(elf) == "binary file"


def test_vanished_and_unsupported(tmp_path):
    gone = tmp_path / "gone.txt"
    gone.write_text("here for a moment", encoding="utf-8")
    gone.unlink()
    assert reason(gone) == "file vanished"
    (tmp_path / "pic.jpg").write_bytes(b"\xff\xd8\xff\xe0")
    assert reason(tmp_path / "pic.jpg") == "unsupported format"


_UNPRIVILEGED_CHILD = r"""
import os, sys
from pathlib import Path
from desktop_app.core.library.documents import ParseError
from desktop_app.core.library.parse import parse_file
if os.geteuid() == 0:          # root reads everything: drop to nobody so permissions apply
    os.setgid(65534)
    os.setuid(65534)
try:
    list(parse_file(Path(sys.argv[1])))
    print("parsed")
except ParseError as exc:
    print(exc.reason)
"""


def test_unreadable_file(tmp_path):
    """A file the user may not read (chmod 000). Tests run as root here, and
    root ignores permissions, so the parse runs in a child that drops to
    'nobody' first: a real permission fault, not a simulated one."""
    import sys
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="hearth-perm-"))   # traversable by nobody, unlike tmp_path
    try:
        folder.chmod(0o755)
        path = folder / "secret.txt"
        path.write_text("private", encoding="utf-8")
        path.chmod(0)
        out = subprocess.run([sys.executable, "-c", _UNPRIVILEGED_CHILD, str(path)], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[3], check=True).stdout.strip()
        assert out == "unreadable: permission denied"
        path.chmod(0o644)   # and the same file, once readable, parses
        out = subprocess.run([sys.executable, "-c", _UNPRIVILEGED_CHILD, str(path)], capture_output=True,
                             text=True, cwd=Path(__file__).resolve().parents[3], check=True).stdout.strip()
        assert out == "parsed"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_directory_named_like_a_document(tmp_path):
    folder = tmp_path / "notes.txt"
    folder.mkdir()
    assert reason(folder) == "unsupported format"


# ---------------------------------------------------------------- reStructuredText and code

def test_rst_titles_become_sections(tmp_path):
    path = tmp_path / "manual.rst"
    path.write_text(
        "=======\nManual\n=======\n\nThe :func:`open` call and ``code`` and `a link <https://x.org>`_.\n\n"
        ".. _setup:\n\nSetup\n=====\n\nFirst configure.\n\nDetails\n-------\n\nFine print.\n\n"
        "Next part\n=========\n\nMore.\n", encoding="utf-8")
    blocks, _ = parse(path)
    by_text = {b.text: b.section for b in blocks}
    assert by_text["The open call and code and a link."] == "Manual"
    assert by_text["First configure."] == "Manual > Setup"
    assert by_text["Fine print."] == "Manual > Setup > Details"
    assert by_text["More."] == "Manual > Next part"
    assert not any(".. _setup" in b.text for b in blocks)


def test_source_code_sections_are_definitions(tmp_path):
    path = tmp_path / "shapes.py"
    path.write_text(
        "import math\n\n\nclass Circle:\n    def __init__(self, r):\n        self.r = r\n\n"
        "    def area(self):\n        return math.pi * self.r ** 2\n\n\ndef unit():\n    return Circle(1)\n",
        encoding="utf-8")
    blocks, _ = parse(path)
    by_text = {b.text: b.section for b in blocks}
    assert by_text["import math"] is None
    assert by_text["    def area(self):\n        return math.pi * self.r ** 2"] == "Circle.area"
    assert by_text["def unit():\n    return Circle(1)"] == "unit"
    go = tmp_path / "main.go"
    go.write_text("package main\n\nfunc (s *Server) Start() error {\n\treturn nil\n}\n", encoding="utf-8")
    assert [b.section for b in parse(go)[0]] == [None, "Start"]


# ---------------------------------------------------------------- PDF

TEXLIVE = Path("/usr/share/doc/texlive-doc/latex")
URL_PDF = TEXLIVE / "url" / "url.pdf"             # 6 pages, no outline
PAPER_PDF = TEXLIVE / "hyperref" / "paper.pdf"    # 21 pages with bookmarks
needs_texlive = pytest.mark.skipif(not URL_PDF.exists() or not PAPER_PDF.exists(),
                                   reason="real PDFs come from Debian's texlive-latex-base-doc, not installed")


def make_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A real PDF written by PDFium, one text line per entry, standard Helvetica."""
    import ctypes

    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    pdf = pdfium.PdfDocument.new()
    for lines in pages:
        page = pdf.new_page(612, 792)
        y = 720
        for line in lines:
            obj = raw.FPDFPageObj_NewTextObj(pdf, b"Helvetica", ctypes.c_float(12))
            buf = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
            raw.FPDFText_SetText(obj, ctypes.cast(buf, ctypes.POINTER(raw.FPDF_WCHAR)))
            raw.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, y)
            raw.FPDFPage_InsertObject(page, obj)
            y -= 16
        raw.FPDFPage_GenerateContent(page)
        page.close()
    pdf.save(str(path))
    pdf.close()
    return path


def test_pdf_pages_and_hyphenation(tmp_path):
    path = make_pdf(tmp_path / "made.pdf", [
        ["Hearth keeps every document on this machine, for exam-", "ple your notes and your reports."],
        ["Second page talks about the well-known index."],
        [],
        ["Fourth page."],
    ])
    blocks, doc = parse(path)
    assert [(b.page, b.text) for b in blocks] == [
        (1, "Hearth keeps every document on this machine, for example your notes and your reports."),
        (2, "Second page talks about the well-known index."),
        (4, "Fourth page."),
    ]


@needs_texlive
def test_real_pdf_text_with_page_numbers():
    blocks, doc = parse(URL_PDF)
    assert {b.page for b in blocks} == {1, 2, 3, 4, 5, 6}
    assert [b.page for b in blocks] == sorted(b.page for b in blocks)
    page_of = lambda phrase: next(b.page for b in blocks if phrase in b.text)   # noqa: E731
    assert page_of("The package defines a form of \\verb command") == 1
    assert page_of("You can switch the style of printing") == 3
    assert "The same restrictions apply as above" in doc        # line-end hyphen joined
    assert "\ufffe" not in doc and "\r" not in doc
    assert not any("  " in b.text for b in blocks)


@needs_texlive
def test_real_pdf_bookmarks_give_sections():
    blocks, _ = parse(PAPER_PDF)
    section_of = lambda phrase: next(b.section for b in blocks if phrase in b.text)   # noqa: E731
    assert section_of("There are two main types of strings with") == "2 Strings > 2.2 TeX"
    assert section_of("Strings are delimited by parentheses") == "2 Strings > 2.1 PDF"
    assert max(b.page for b in blocks) == 21


def test_scanned_pdf_without_text(tmp_path):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    page = pdf.new_page(612, 792)
    image = pdfium.PdfImage.new(pdf)
    image.set_bitmap(pdfium.PdfBitmap.new_native(200, 100, pdfium.raw.FPDFBitmap_BGR))
    image.set_matrix(pdfium.PdfMatrix().scale(400, 200).translate(100, 400))
    page.insert_obj(image)
    page.gen_content()
    pdf.save(str(tmp_path / "scan.pdf"))
    pdf.close()
    assert reason(tmp_path / "scan.pdf") == "no text (scanned PDF?)"


@needs_texlive
def test_truncated_pdf_is_corrupt(tmp_path):
    data = URL_PDF.read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 3])
    assert reason(path) == "corrupt PDF"
    (tmp_path / "fake.pdf").write_bytes(b"this was never a PDF, just a renamed note\n" * 10)
    assert reason(tmp_path / "fake.pdf") == "corrupt PDF"


@pytest.mark.skipif(shutil.which("mutool") is None, reason="needs mutool (mupdf-tools) to encrypt a real PDF")
@needs_texlive
def test_encrypted_pdf(tmp_path):
    out = tmp_path / "locked.pdf"
    subprocess.run(["mutool", "clean", "-E", "aes-128", "-U", "secret", "-O", "owner", str(URL_PDF), str(out)],
                   check=True, capture_output=True)
    assert reason(out) == "encrypted PDF"


# ---------------------------------------------------------------- DOCX

def test_docx_headings_paragraphs_and_tables(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Quarterly report", level=0)
    document.add_paragraph("Sales grew  in every region.")
    document.add_heading("Europe", level=1)
    document.add_paragraph("France and Spain led.")
    table = document.add_table(rows=3, cols=2)
    for row, (a, b) in zip(table.rows, [("Country", "Units"), ("France", "1200"), ("Spain", "950")]):
        row.cells[0].text, row.cells[1].text = a, b
    document.add_heading("Outlook", level=2)
    document.add_paragraph("Steady.")
    document.add_heading("Asia", level=1)
    document.add_paragraph("Japan flat.")
    path = tmp_path / "report.docx"
    document.save(str(path))

    blocks, _ = parse(path)
    assert [(b.text, b.section) for b in blocks] == [
        ("Quarterly report", "Quarterly report"),
        ("Sales grew in every region.", "Quarterly report"),
        ("Europe", "Quarterly report > Europe"),
        ("France and Spain led.", "Quarterly report > Europe"),
        ("Country | Units\nFrance | 1200\nSpain | 950", "Quarterly report > Europe"),
        ("Outlook", "Quarterly report > Europe > Outlook"),
        ("Steady.", "Quarterly report > Europe > Outlook"),
        ("Asia", "Quarterly report > Asia"),
        ("Japan flat.", "Quarterly report > Asia"),
    ]


def test_corrupt_docx(tmp_path):
    import docx

    document = docx.Document()
    document.add_paragraph("Some text that will be cut off.")
    good = tmp_path / "good.docx"
    document.save(str(good))
    cut = tmp_path / "cut.docx"
    cut.write_bytes(good.read_bytes()[:5000])
    assert reason(cut) == "corrupt DOCX"
    renamed = tmp_path / "notes.docx"
    renamed.write_text("plain text wearing a .docx name", encoding="utf-8")
    assert reason(renamed) == "corrupt DOCX"


# ---------------------------------------------------------------- HTML

PYDOCS = Path("/usr/share/doc/python3.11/html")
needs_pydocs = pytest.mark.skipif(not (PYDOCS / "library" / "shutil.html").exists(),
                                  reason="real HTML comes from Debian's python3.11-doc, not installed")


@needs_pydocs
def test_real_sphinx_html_drops_boilerplate_and_keeps_sections():
    raw = (PYDOCS / "library" / "shutil.html").read_text(encoding="utf-8")
    # what the boilerplate says, checked present in the raw page so the test can fail
    for furniture in ("Table of Contents", "Previous topic", "Quick search", "Please donate",
                      "Found a bug", "This Page", "Show Source"):
        assert furniture in raw
    blocks, doc = parse(PYDOCS / "library" / "shutil.html")
    for furniture in ("Table of Contents", "Previous topic", "Quick search", "Please donate",
                      "Found a bug", "Show Source", "¶", "Theme"):
        assert furniture not in doc, furniture
    title = "shutil — High-level file operations"
    assert blocks[0].text == title and blocks[0].section == title
    section_of = lambda phrase: next(b.section for b in blocks if phrase in b.text)   # noqa: E731
    # API entries are sub-sections named by their anchor
    assert section_of("If dirs_exist_ok is false (the default) and dst already exists") == \
        f"{title} > Directory and files operations > shutil.copytree"
    assert section_of("Return the path to an executable which would be run") == \
        f"{title} > Directory and files operations > shutil.which"
    assert section_of("Create an archive file (such as zip or tar) and return its name.") == \
        f"{title} > Archiving operations > shutil.make_archive"
    assert section_of("Get the size of the terminal window.") == \
        f"{title} > Querying the size of the output terminal > shutil.get_terminal_size"
    # after an API entry ends, text belongs to the heading again
    assert next(b.section for b in blocks if b.text == "Archiving example") == \
        f"{title} > Archiving operations > Archiving example"
    # signatures and code examples survive as text
    assert "shutil.copytree(src, dst, symlinks=False, ignore=None" in doc
    assert "copytree(source, destination, ignore=ignore_patterns('*.pyc', 'tmp*'))" in doc


PGDOCS = Path("/usr/share/doc/postgresql-doc-15/html")


@pytest.mark.skipif(not (PGDOCS / "ddl-generated-columns.html").exists(),
                    reason="real DocBook HTML comes from Debian's postgresql-doc-15, not installed")
def test_real_docbook_html_drops_the_navigation_tables():
    page = PGDOCS / "ddl-generated-columns.html"
    raw = page.read_text(encoding="utf-8")
    # DocBook XSL puts a Prev / Up / Home / Next table above and below the page
    assert 'class="navheader"' in raw and 'class="navfooter"' in raw
    blocks, doc = parse(page)
    for furniture in ("Prev", "Home", "Chapter 5. Data Definition", "5.2. Default Values", "5.4. Constraints"):
        assert furniture not in doc, furniture
    # the page starts at its heading, and every passage is under it
    assert blocks[0].text == "5.3. Generated Columns"
    assert {b.section for b in blocks} == {"5.3. Generated Columns"}
    assert blocks[1].text.startswith("A generated column is a special column that is always computed")


LATEX2HTML_PAGE = """<!DOCTYPE HTML>
<!--Converted with LaTeX2HTML 2022.2 (Released July 1, 2022) -->
<HTML lang="en"><HEAD><TITLE>Tide tables</TITLE></HEAD><BODY >
<DIV CLASS="navigation"><!--Navigation Panel-->
<A HREF="node8.html"><IMG ALT="next" SRC="next.png"></A>
<B> Next:</B> <A HREF="node8.html">Moon phases</A>
<B> Up:</B> <A HREF="node6.html">Almanac</A>
<B> Previous:</B> <A HREF="node6.html">Sunrise</A>
<BR><BR></DIV>
<!--End of Navigation Panel-->
<H2><A ID="SECTION007"></A>Tide tables</H2>
<P>High water at the harbour mouth comes forty minutes before the town quay.</P>
<!--Table of Child-Links-->
<UL CLASS="ChildLinks"><LI><A HREF="node9.html">Spring tides</A></LI></UL>
<DIV CLASS="navigation"><HR><B> Next:</B> <A HREF="node8.html">Moon phases</A></DIV>
</BODY></HTML>"""


def test_latex2html_navigation_panels_and_child_links_are_dropped(tmp_path):
    path = tmp_path / "node7.html"
    path.write_text(LATEX2HTML_PAGE, encoding="utf-8")
    blocks, doc = parse(path)
    assert [b.text for b in blocks] == [
        "Tide tables", "High water at the harbour mouth comes forty minutes before the town quay."]
    for furniture in ("Next", "Moon phases", "Almanac", "Sunrise", "Spring tides"):
        assert furniture not in doc, furniture


GNUPLOT = Path("/usr/share/doc/gnuplot/htmldocs")


@pytest.mark.skipif(not (GNUPLOT / "node336.html").exists(),
                    reason="real LaTeX2HTML output comes from Debian's gnuplot-doc, not installed")
def test_real_latex2html_page_keeps_its_text_without_the_navigation():
    page = GNUPLOT / "node336.html"
    raw = page.read_text(encoding="utf-8")
    assert 'CLASS="navigation"' in raw and "Previous:" in raw
    blocks, doc = parse(page)
    assert "Previous:" not in doc and "Next:" not in doc
    assert blocks[0].text == blocks[0].section      # the page starts at its heading


def test_html_heading_permalinks_are_dropped(tmp_path):
    path = tmp_path / "mod.html"
    path.write_text('<html><body><h2>Enable compression<a class="permalink" href="#enable" '
                    'title="Permanent link">&para;</a></h2><p>Load the module first.</p></body></html>',
                    encoding="utf-8")
    blocks, _ = parse(path)
    assert [b.text for b in blocks] == ["Enable compression", "Load the module first."]


def test_html_without_main_drops_nav_and_sidebars(tmp_path):
    path = tmp_path / "page.html"
    path.write_bytes("""<html><head><meta charset="windows-1252"><title>T</title>
      <style>body{}</style><script>var menu = 1;</script></head><body>
      <header><a href="/">Home</a> | <a href="/blog">Blog</a></header>
      <nav class="breadcrumb">Docs &raquo; Guide</nav>
      <div class="sidebar">Related posts: how to cook</div>
      <h1>Caf\u00e9 guide</h1><p>Order an <b>espresso</b> or a<br>latte.</p>
      <h2>Prices</h2><table><tr><th>Drink</th><th>Price</th></tr><tr><td>Espresso</td><td>2 \u20ac</td></tr></table>
      <aside>Subscribe to our newsletter</aside><footer>\u00a9 2024 Caf\u00e9 Inc</footer></body></html>
      """.encode("cp1252"))
    blocks, doc = parse(path)
    assert [(b.text, b.section) for b in blocks] == [
        ("Café guide", "Café guide"),
        ("Order an espresso or a latte.", "Café guide"),
        ("Prices", "Café guide > Prices"),
        ("Drink | Price", "Café guide > Prices"),
        ("Espresso | 2 €", "Café guide > Prices"),
    ]


XHTML_PAGE = """<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Install</title></head><body>
<nav><button><span class="icon"/></button><ul><li><a href="/">Home</a></li>
<li><iframe src="https://example.org/sponsor" title="Sponsor"/></li></ul></nav>
<div class="container" role="main"><div class="banner"/>Sponsored</div>
<main><h1>Advanced installation</h1><p>Run <code>configure</code> first.<br/>Then build.</p>
<div class="spacer"/><p>Install as root.</p></main>
<footer>Copyright</footer></body></html>
"""


def test_xhtml_self_closed_elements_do_not_swallow_the_page(tmp_path):
    """An XHTML page's "<iframe .../>" is empty: read as HTML it would stay
    open, and the rest of the page would be its raw text inside the dropped
    navigation. A small element marked role=main is not the content."""
    path = tmp_path / "install.html"
    path.write_text(XHTML_PAGE, encoding="utf-8")
    blocks, _ = parse(path)
    assert [(b.text, b.section) for b in blocks] == [
        ("Advanced installation", "Advanced installation"),
        ("Run configure first. Then build.", "Advanced installation"),
        ("Install as root.", "Advanced installation"),
    ]


IMAGEMAGICK_PAGE = Path("/usr/share/doc/imagemagick-6-common/html/www/advanced-unix-installation.html")


@pytest.mark.skipif(not IMAGEMAGICK_PAGE.exists(),
                    reason="real XHTML with self-closed elements comes from Debian's imagemagick-6-doc, not installed")
def test_real_imagemagick_xhtml_page_keeps_its_text():
    blocks, doc = parse(IMAGEMAGICK_PAGE)
    assert blocks[0].text == "Advanced Unix Installation"
    assert "ImageMagick builds on a variety of Unix and Unix-like operating systems" in doc
    assert "Sponsor" not in doc and "Home Download Tools" not in doc


def test_a_table_of_contents_is_dropped_unless_it_holds_the_sections(tmp_path):
    """Sphinx's toctree is a list of links (dropped); its single-page output
    puts the whole document inside the same wrapper (kept)."""
    toc = ('<div class="toctree-wrapper compound"><p class="caption">Contents:</p><ul>'
           '<li><a href="intro.html">Introduction</a></li></ul></div>')
    path = tmp_path / "index.html"
    path.write_text(f'<html><body><div class="body"><h1>Guide</h1><p>Read on.</p>{toc}</div></body></html>',
                    encoding="utf-8")
    assert [b.text for b in parse(path)[0]] == ["Guide", "Read on."]
    single = ('<div class="toctree-wrapper compound"><section id="intro"><h2>Introduction</h2>'
              '<p>Packages go in dist-packages.</p></section></div>')
    path.write_text(f'<html><body><div class="body"><h1>Policy</h1>{single}</div></body></html>',
                    encoding="utf-8")
    assert [(b.text, b.section) for b in parse(path)[0]] == [
        ("Policy", "Policy"), ("Introduction", "Policy > Introduction"),
        ("Packages go in dist-packages.", "Policy > Introduction")]


PYTHON_POLICY = Path("/usr/share/doc/python3/python-policy.html")


@pytest.mark.skipif(not PYTHON_POLICY.exists(),
                    reason="real Sphinx single-page output comes from Debian's python3 package, not installed")
def test_real_sphinx_single_page_keeps_its_document():
    blocks, doc = parse(PYTHON_POLICY)
    assert len(doc) > 20_000
    assert any(b.section and b.section.endswith("1. Copyright") for b in blocks)


# ---------------------------------------------------------------- large files

_MEASURE_CHILD = r"""
import resource, sys
from pathlib import Path
from desktop_app.core.library.parse import parse_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
blocks = chars = 0
last = None
for block in parse_file(Path(sys.argv[1])):
    blocks += 1
    chars += len(block.text)
    last = block
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(blocks, chars, last.start + len(last.text), (after - before) // 1024)
"""


def test_large_text_file_streams_with_bounded_memory(tmp_path):
    """LARGE FILE (~120 MB written to tmp_path, a few seconds): parsing streams.

    Measured in a fresh child process so the peak RSS (ru_maxrss) is this
    parse's own, not the test session's. Reading the file whole would need at
    least its size again in RAM (more for the decoded str and its lines)."""
    import sys

    paragraph = ("Hearth reads big files piece by piece, so memory stays small. " * 15).strip()
    path = tmp_path / "huge.txt"
    n_paragraphs = 120_000_000 // (len(paragraph) + 2)
    with open(path, "w", encoding="utf-8") as handle:
        chunk = (paragraph + "\n\n") * 1000
        for _ in range(n_paragraphs // 1000):
            handle.write(chunk)
    size_mb = path.stat().st_size // 2**20
    out = subprocess.run([sys.executable, "-c", _MEASURE_CHILD, str(path)], check=True, capture_output=True,
                         text=True, cwd=Path(__file__).resolve().parents[3]).stdout.split()
    blocks, chars, end, growth_mb = map(int, out)
    assert blocks == n_paragraphs // 1000 * 1000            # every paragraph came through
    assert chars == blocks * len(paragraph)
    assert end == chars + (blocks - 1) * len(BLOCK_SEP)     # offsets stayed consecutive
    assert size_mb >= 110
    assert growth_mb < 40, f"parsing a {size_mb} MB file grew peak RSS by {growth_mb} MB"


def test_one_endless_line_is_cut_into_bounded_blocks(tmp_path):
    path = tmp_path / "oneline.log"
    path.write_text("word " * 400_000, encoding="utf-8")     # 2 MB, no newline at all
    blocks, doc = parse(path)
    assert len(blocks) > 10
    assert max(len(b.text) for b in blocks) <= 64 * 1024
    assert sum(len(b.text.split()) for b in blocks) == 400_000


def test_aligned_text_table_keeps_its_columns(tmp_path):
    """A plain-text report laid out in columns keeps which number is under
    which heading (as a pipe table); ordinary paragraphs are unchanged."""
    path = tmp_path / "report.txt"
    path.write_text(
        "Results of the well survey.\n\n"
        "Site   Location          Nitrate (mg/L)   Lead (ug/L)\n"
        "A      Church Farm well    3.2              1.4\n"
        "B      Old School bore     4.8              6.9\n\n"
        "Both sites meet  the limits.\n", encoding="utf-8")
    texts = [b.text for b in parse_file(path)]
    assert texts[0] == "Results of the well survey."
    assert texts[1] == ("| Site | Location | Nitrate (mg/L) | Lead (ug/L) | "
                        "| A | Church Farm well | 3.2 | 1.4 | | B | Old School bore | 4.8 | 6.9 |")
    assert texts[2] == "Both sites meet the limits."   # two spaces in prose are not columns


def test_the_status_finds_a_files_parser_from_the_end_of_its_path(monkeypatch):
    """``waiting_for_reparse`` looks a parser up once per path ending
    (``_suffix_key``); that ending must pick the parser the path itself does."""
    from desktop_app.core.library.parse import code, docx, html, parser_version, pdf, text
    from desktop_app.core.library.parser_upgrade import _suffix_key

    for number, module in enumerate((code, docx, html, pdf, text)):   # every parser told apart
        monkeypatch.setattr(module, "PARSER_VERSION", 100 + number)
    paths = ["/d/a.html", "/d/b.HTM", "/d/.html", "/d/..html", "/d/a..html", "/d/x.pdf", "/d/x.pdf.txt",
             "/d.html/README", "/d.pdf/notes.md", "/d/file.", "README", ".html", "a.html", "/d/a.py",
             "/d/r.docx", "/d/tar.gz", "C:\\docs\\a.html", "/d/ünï.PDF"]
    for path in paths:
        assert parser_version(_suffix_key(path)) == parser_version(path), path
    assert len({parser_version(p) for p in paths}) == 5
