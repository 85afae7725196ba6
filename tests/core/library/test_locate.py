"""Finding a cited passage again in a differently laid-out text: a PDF page's
own text layer (real PDFs, read by PDFium the way QtPdf reads them), and the
small differences a changed file or another renderer brings. No Qt."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.library.locate import Keyed, find_passage, longest_prefix, longest_suffix, split_across
from desktop_app.core.library.parse import parse_file

URL_PDF = Path("/usr/share/doc/texlive-doc/latex/url/url.pdf")
needs_texlive = pytest.mark.skipif(not URL_PDF.exists(),
                                   reason="real PDFs come from Debian's texlive-latex-base-doc, not installed")


def page_texts(path: Path) -> list[str]:
    """Each page's raw text layer, line breaks and hyphens as PDFium gives them."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        texts = []
        for page in pdf:
            layer = page.get_textpage()
            texts.append(layer.get_text_range())
            layer.close()
            page.close()
        return texts
    finally:
        pdf.close()


@needs_texlive
def test_every_parsed_paragraph_of_a_real_pdf_is_found_whole_on_its_page():
    pages = page_texts(URL_PDF)
    blocks = [b for b in parse_file(URL_PDF) if len(b.text) > 40]
    found = [find_passage(pages[b.page - 1], b.text) for b in blocks]
    assert all(span is not None and span.found == "whole" for span in found), \
        [b.text[:60] for b, s in zip(blocks, found) if s is None or s.found != "whole"]
    shown = [pages[b.page - 1][s.start:s.end] for b, s in zip(blocks, found)]
    for block, text in zip(blocks, shown):
        assert Keyed(text).key == Keyed(block.text).key
    # The text layer breaks lines inside paragraphs that the parser joined.
    assert sum("\n" in text for text in shown) > len(shown) // 3


@needs_texlive
def test_a_paragraph_running_over_a_page_break_is_split_over_both_pages():
    pages = page_texts(URL_PDF)
    blocks = list(parse_file(URL_PDF))
    # A real paragraph that the page break cuts in two ("... linebreaking, but" | "also accounts ...").
    first, second = next((a, b) for a, b in zip(blocks, blocks[1:])
                         if a.page + 1 == b.page and not a.text.endswith(".") and b.text[:1].islower())
    passage = first.text + " " + second.text
    assert find_passage(pages[first.page - 1], passage).found != "whole"
    a, b = split_across(pages[first.page - 1], pages[second.page - 1], passage)
    assert (a.found, b.found) == ("whole", "whole")
    assert Keyed(pages[first.page - 1][a.start:a.end]).key == Keyed(first.text).key
    assert Keyed(pages[second.page - 1][b.start:b.end]).key == Keyed(second.text).key
    # A paragraph that is whole on one page is not split.
    assert split_across(pages[first.page - 1], pages[second.page - 1], first.text) is None


TEXT = ("Intro line.\n\nThe boiler&#8217;s relief valve is tested every spring by lifting its lever "
        "for five seconds.\n| Part | Interval |\n| Valve | yearly |\nIf no water comes out, the valve "
        "is replaced before the heating season. The end.")


def test_whitespace_punctuation_and_case_do_not_matter():
    passage = "THE BOILER'S relief valve is tested every  spring by lifting its lever for five seconds."
    span = find_passage("The boiler’s relief\nvalve is tes-\nted every spring by lifting its lever for five "
                        "seconds. More.", passage)
    assert span.found == "whole" and span.start == 0
    assert find_passage("Part Interval\nValve\nyearly", "| Part | Interval | | Valve | yearly |").found == "whole"


def test_a_changed_middle_keeps_both_ends_and_says_so():
    passage = ("The relief valve is tested every spring by lifting its lever for five seconds. "
               "If no water comes out, the valve is replaced before the heating season.")
    changed = passage.replace("five seconds", "ten seconds, wearing gloves")
    text = "Before. " + changed + " After."
    span = find_passage(text, passage)
    assert span.found == "ends" and span.exact
    assert text[span.start:span.end] == changed


def test_only_a_beginning_or_one_sentence_is_reported_as_such():
    passage = ("The relief valve is tested every spring by lifting its lever. "
               "Somebody then writes the date in the log kept beside the boiler.")
    begins = "The relief valve is tested every spring by lifting its lever. Totally different words here."
    span = find_passage(begins, passage)
    assert span.found == "start" and not span.exact and span.start == 0
    later = "Other text. Somebody then writes the date in the log kept beside the boiler. More."
    span = find_passage(later, passage)
    assert span.found == "part"
    assert later[span.start:span.end] == "Somebody then writes the date in the log kept beside the boiler"
    assert find_passage("Nothing of the kind is here at all.", passage) is None
    assert find_passage("", passage) is None and find_passage("text", "  ") is None


def test_prefix_and_suffix_searches():
    assert longest_prefix("xxabcdyy", "abcz") == (2, 3)
    assert longest_prefix("xyz", "abc") == (-1, 0)
    assert longest_suffix("xxbcdyy", "abcd") == (5, 3)
    assert longest_suffix("bcd...bcd", "abcd", 0, 4) == (3, 3)
