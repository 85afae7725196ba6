"""Document answers that answer: the model's sentence is shown only when its
passage supports it, else the passage's own sentence is quoted, else "not
covered". Real files in tmp_path, the real embedder, the real default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop_app.core.chat import entries, support
from desktop_app.core.chat.citations import Source
from desktop_app.core.chat.engine import NOT_COVERED, ChatEngine
from desktop_app.core.settings import Settings
from desktop_app.core.tools.registry import default_registry

MANUAL = """# Storage engine manual

## Pages

The database file is divided into pages. The default page size is 4096 bytes.
The page size can be changed before the first table is created.

## Journal

Every write transaction is recorded in a rollback journal next to the database file.
The journal is deleted when the transaction commits.
"""

KITCHEN = """Kitchen rota

The dishwasher is emptied every evening by whoever cooked dinner.
Fresh bread is delivered on Tuesdays and Fridays before 8 am.
"""

PAGE_PASSAGE = ("The database file is divided into pages. The default page size is 4096 bytes. "
                "The page size can be changed before the first table is created.")


def settings(**changes) -> Settings:
    return Settings(**{"context_length": 2048, "max_tokens": 64, "temperature": 0.0,
                       "retrieval_k": 4, **changes})


@pytest.fixture(scope="module")
def library(library_over, tmp_path_factory):
    folder = tmp_path_factory.mktemp("manuals")
    (folder / "storage.md").write_text(MANUAL, encoding="utf-8")
    (folder / "kitchen.txt").write_text(KITCHEN, encoding="utf-8")
    return library_over(folder)


@pytest.fixture(scope="module")
def engine(library, llm):
    # ``llm``: the real default model, one session per module (conftest.py).
    return ChatEngine(library, llm, default_registry(), settings())


# --- the support rule (real embedder, no model) ---------------------------------------------

@pytest.mark.parametrize("sentence", [
    "The default page size is 1024 bytes [1].",      # a number the page does not state
    "Yes, you can.",                                  # adds nothing to the question
    "What is the default page size?",                 # the question repeated
    "The default page size is not 4096 bytes [1].",   # contradicts the page
])
def test_sentences_that_do_not_answer_from_the_page_are_not_supported(sentence):
    assert not support.supported(sentence, PAGE_PASSAGE, "What is the default page size?")


def test_a_number_said_of_another_name_is_not_supported():
    passage = ("level (int) - The numeric level of the logging event (such as 10 for DEBUG, 20 for INFO, "
               "etc). It is converted to levelno, the numeric value, and levelname.")
    question = "What is the numeric value of the level WARNING?"
    assert not support.supported("The numeric value of the level WARNING is 10.", passage, question)
    assert support.supported("The numeric value of the level DEBUG is 10.", passage, question)


MANUAL_SOURCES = [Source(1, "/d/storage.md", PAGE_PASSAGE, start=40),
                  Source(2, "/d/storage.md", "Every write transaction is recorded in a rollback journal next to "
                         "the database file. The journal is deleted when the transaction commits.", start=260),
                  Source(3, "/d/kitchen.txt", KITCHEN.split("\n\n", 1)[1], start=14)]


def test_the_quote_is_shown_only_when_hearth_is_sure_enough_that_it_answers(embedder):
    question = "What is the default page size?"
    args = (question, "", [], MANUAL_SOURCES, embedder.encode)
    shown = support.ground(*args)
    assert shown.kind == support.QUOTE and "4096 bytes" in shown.text
    ranked = support.rank_sentences(question, MANUAL_SOURCES, embedder.encode)
    quote = support.best_quote(question, MANUAL_SOURCES, embedder.encode, ranked)
    features = support.confidence_features(question, ranked, quote)
    assert support.confidence(features) >= 0
    # A sentence only loosely close to the question, a rival close behind,
    # found in the last of many passages: not sure enough, so not shown.
    assert support.confidence(dict(features, relevance=0.8, score=0.8, margin=0.0, passage=8.0)) < 0
    # A question the passages do not answer: the closest sentence is no answer.
    off = support.ground("How long should a sourdough loaf proof before baking?", "", [], MANUAL_SOURCES,
                         embedder.encode)
    assert off.kind == support.NOT_COVERED and not off.citations


def test_what_the_models_draft_points_at_raises_confidence(embedder):
    # The draft raises the sentences holding what it adds (DRAFT_WEIGHT):
    # pointing at the quote widens its lead.
    question = "What is the default page size?"

    def sure(draft):
        ranked = support.rank_sentences(question, MANUAL_SOURCES, embedder.encode, draft)
        quote = support.best_quote(question, MANUAL_SOURCES, embedder.encode, ranked)
        assert "4096 bytes" in quote.text
        return support.confidence(support.confidence_features(question, ranked, quote))

    assert sure("4096 bytes [1]") > sure("")


def test_a_sentence_without_the_kind_of_answer_asked_for_is_not_quoted(embedder):
    # "How many" asks for a number; the closest sentence has none.
    sources = [Source(1, "/d/storage.md", "The page size can be changed before the first table is "
                      "created. The journal is deleted when the transaction commits.")]
    grounded = support.ground("How many bytes can the page size be changed to?", "", [], sources, embedder.encode)
    assert grounded.kind == support.NOT_COVERED
    # A manual section in a name is no amount: "git-gc(1)" states no number.
    assert support.quantities("see git-gc(1) and 1.month.ago") == set()
    assert support.quantities("defaults to 32 connections") == {"32"}
    # A default asked for is stated as one ("defaults to", "if not given", ...),
    # not by a sentence that only names the setting.
    sources = [Source(1, "/d/levels.md", "The isolation level decides what a transaction sees of others. "
                      "Each transaction may choose one of four isolation levels.")]
    grounded = support.ground("If I don't set an isolation level, which level does a transaction use?", "", [],
                              sources, embedder.encode)
    assert grounded.kind == support.NOT_COVERED


def test_a_sentence_that_only_points_elsewhere_is_never_the_quote(embedder):
    sources = [Source(1, "/d/clone.html", "See the documentation for the --depth option in git-repack(1) "
                      "for more details. The --depth option of clone creates a shallow clone with a "
                      "history truncated to the given number of commits.")]
    grounded = support.ground("What does the --depth option of clone create?", "", [], sources, embedder.encode)
    assert grounded.kind == support.QUOTE and "shallow clone" in grounded.text
    assert "See the documentation" not in grounded.text


def test_a_quote_that_does_not_name_what_the_question_names_in_code_is_not_shown(embedder):
    # The passage names gzip.open, but the sentence with a level is about the
    # command line, not about gzip.open.
    sources = [Source(1, "/d/gzip.html", "The gzip.open function opens a gzip-compressed file in binary "
                      "or text mode.\n\nWhen you run the command line interface, the default compression "
                      "level is 6.")]
    grounded = support.ground("What compression level does gzip.open use by default?", "", [], sources,
                              embedder.encode)
    assert grounded.kind == support.NOT_COVERED


def test_a_sentence_stating_the_pages_fact_is_supported():
    assert support.supported("The default page size is 4096 bytes [1].", PAGE_PASSAGE,
                             "What is the default page size?")


def test_an_unsupported_sentence_is_replaced_by_the_quoted_supporting_sentence(embedder):
    sources = [Source(1, "/d/kitchen.txt", KITCHEN.split("\n\n", 1)[1], start=14),
               Source(2, "/d/storage.md", PAGE_PASSAGE, start=40)]
    grounded = support.ground("What is the default page size?", "The default page size is 1024 bytes [2].",
                              [sources[1].citation()], sources, embedder.encode)
    assert grounded.kind == support.QUOTE
    assert "4096 bytes" in grounded.text and "1024" not in grounded.text
    [citation] = grounded.citations
    assert citation["n"] == 2 and citation["quote"]
    # The citation is narrowed to the quoted sentence, at its place in the document.
    assert citation["text"] == "The default page size is 4096 bytes."
    assert PAGE_PASSAGE[citation["start"] - 40:citation["end"] - 40] == citation["text"]


CONFIG_PASSAGE = ("sync.retryDelay: How long to wait before the first retry of a failed upload, in "
                  "milliseconds. Default is 100 (i.e., retry after 100ms). sync.maxRetries: How many "
                  "times a failed upload is tried again. Default is 3.")


def test_a_name_in_code_form_that_no_passage_names_is_not_covered(embedder):
    # A made-up variable next to real ones: "Default is 100" is another
    # variable's default, close in words, and no answer about this one.
    sources = [Source(1, "/d/sync-config.html", CONFIG_PASSAGE)]
    grounded = support.ground("How long does sync.retryBackoff wait before the first retry of a failed "
                              "upload by default, in milliseconds?",
                              "The default is 100 [1].", [sources[0].citation()], sources, embedder.encode)
    assert grounded.kind == support.NOT_COVERED and not grounded.citations


def test_a_name_in_code_form_is_answered_from_the_passage_that_names_it(embedder):
    sources = [Source(1, "/d/kitchen.txt", KITCHEN.split("\n\n", 1)[1]),
               Source(2, "/d/sync-config.html", CONFIG_PASSAGE)]
    grounded = support.ground("How many times is a failed upload retried by default (sync.maxRetries)?",
                              "A failed upload is tried again 3 times [1].", [sources[0].citation()], sources,
                              embedder.encode)
    assert grounded.kind != support.NOT_COVERED
    assert "3" in grounded.text
    assert [c["n"] for c in grounded.citations] == [2]   # the passage that names it, not the model's [1]


# A settings reference laid out as most are: an entry's heading names the
# setting, its sentences ("The default is ...") do not repeat the name.
SETTINGS_PAGE = ("Upload settings\n\n"
                 "upload_window (integer)\n\n"
                 "Longest time an upload may stay open before the server closes it. If this value is "
                 "specified without units, it is taken as seconds. The default is ten minutes (10min). "
                 "This setting can only be changed at server start.\n\n"
                 "upload_chunk_memory (integer)\n\n"
                 "Memory each upload may use for buffering. It defaults to -1, which means the value of "
                 "upload_buffer_memory is used instead. Raising it helps slow disks.\n\n"
                 "upload_buffer_memory (integer)\n\n"
                 "Memory for buffering all uploads together.")


def test_a_sentence_is_read_and_quoted_under_the_heading_of_its_entry(embedder):
    sources = [Source(1, "/d/settings.html", SETTINGS_PAGE)]
    grounded = support.ground("What is the default upload_window?", "", [], sources, embedder.encode)
    assert grounded.kind == support.QUOTE
    # The heading that says which setting it is leads the quote, the sentence
    # that states the default follows; the citation is the sentence alone.
    assert "upload_window (integer) … The default is ten minutes (10min)." in grounded.text
    [citation] = grounded.citations
    assert citation["text"].startswith("The default is ten minutes")


API_PAGE = ("tally.count(items[, options])\n\nitems {Array} The values to count.\n\n"
            "separator {string} The text put between groups. Default: ', '.\n\n"
            "maxGroups {number} Specifies the largest number of groups kept. Use 0 for no limit. Default: 64.\n\n"
            "The tally.count() method counts the items.")


@pytest.mark.parametrize("question", ["tally.count maxGroups default", "What is the default maxGroups of tally.count?"])
def test_a_sentence_of_a_list_item_is_read_with_the_name_the_item_starts_with(embedder, question):
    # "Default: 64." says nothing of maxGroups but for the item it ends; the
    # separator's "Default: ', '." stands under the same heading.
    grounded = support.ground(question, "", [], [Source(1, "/d/tally.md", API_PAGE)], embedder.encode)
    assert grounded.kind == support.QUOTE
    assert "maxGroups {number}" in grounded.text and "Default: 64." in grounded.text
    assert "', '" not in grounded.text


def test_a_sentence_under_the_heading_of_another_name_is_no_answer(embedder):
    # The upload_chunk_memory entry mentions upload_buffer_memory, but its
    # default (-1) is upload_chunk_memory's; upload_buffer_memory's entry
    # states none.
    sources = [Source(1, "/d/settings.html", SETTINGS_PAGE)]
    grounded = support.ground("What is the default upload_buffer_memory?", "", [], sources, embedder.encode)
    assert grounded.kind == support.NOT_COVERED
    assert support.names_other("autovacuum_work_mem (integer)", {"maintenance_work_mem"})
    assert not support.names_other("FTP.connect(host='', port=0)", {"ftplib.ftp.connect"})
    assert not support.names_other("Upload settings", {"upload_window"})


CONVERTER_OPTIONS = ("Global options\n\n"
                     "-quiet_start\n\nSkip the greeting.\n\n"
                     "Every run of the converter prints a welcome text with its version first. "
                     "This option turns that text off.\n\n"
                     "Output files\n\n"
                     "Every run of the converter writes its log next to the output file.")


def test_a_quote_from_further_down_an_entry_names_the_entry(embedder):
    # The question does not know the option's name; the sentence that
    # answers it says "This option". The entry's heading says which one.
    sources = [Source(1, "/d/converter.html", CONVERTER_OPTIONS)]
    quote = support.best_quote("how do I stop the converter printing its welcome text", sources, embedder.encode)
    assert quote.text.startswith("-quiet_start … ")
    assert "This option turns that text off." in quote.text
    # the citation (and the viewer's highlight) is the quoted sentences alone
    assert support.quote_citation(quote)["text"].startswith("Every run of the converter prints")
    # under a heading that names nothing in code form, no entry name leads
    quote = support.best_quote("Where does the converter write its log?", sources, embedder.encode)
    assert quote.text.endswith("Every run of the converter writes its log next to the output file.")
    assert "quiet_start" not in quote.text and "…" not in quote.text


# A reference in hard-wrapped text (the HAProxy manual is laid out so): a
# line that goes on with the sentence above is no list item of its own.
WRAPPED_PAGE = ("tune.pagesize <number>\n"
                "  Sets the page size. Lowering it lets more sessions share the same\n"
                "  memory. The savings come from the fact that idle sessions\n"
                "  will not allocate 2*tune.pagesize. It is best not to touch this value.\n"
                "  The default value is 4096.\n")


def test_a_wrapped_line_is_not_a_list_item_that_leads_a_quote():
    source = Source(1, "/d/manual.txt", WRAPPED_PAGE)
    line = lambda words: WRAPPED_PAGE.rfind("\n", 0, WRAPPED_PAGE.index(words)) + 1   # noqa: E731
    assert entries.wrapped(WRAPPED_PAGE, line("will not"))
    assert not entries.wrapped(WRAPPED_PAGE, line("Sets the"))      # under its heading
    assert not entries.wrapped(WRAPPED_PAGE, line("The default"))   # after a full stop
    # "It is best not to touch this value." is not said of "will not allocate
    # 2*tune.pagesize.", the end of the sentence before it, though that names
    # what the question names.
    lead = entries.lead_of(source, WRAPPED_PAGE.index("It is best"), {"tune.pagesize"}, {"tune.pagesize"})
    assert lead is None or not WRAPPED_PAGE[lead[0]:].startswith("will not")


@pytest.mark.parametrize("question, names", [
    ("Does shutil.copytree fail when dirs_exist_ok is false?", {"shutil.copytree", "dirs_exist_ok"}),
    ("What does --no-verify skip, e.g. in a commit?", {"--no-verify"}),
    ("What is the maxSize of the cache?", {"maxsize"}),
    ("How many days are records kept, i.e. by default?", set()),
    ("Is a non-zero exit an error in Python 3.8?", set()),
])
def test_names_in_code_form(question, names):
    assert support.code_names(question) == names


# --- end to end, the real default model ---------------------------------------------------

def _extracted(path: str) -> str:
    """The document's text at the parser's offsets (what chunk offsets index)."""
    from desktop_app.core.library.parse import parse_file

    text = ""
    for block in parse_file(Path(path)):
        text = text.ljust(block.start) + block.text
    return text


def _check_shown_answer(answer):
    """Whatever the model wrote, the shown answer is one of the three kinds."""
    if not answer.covered:
        assert answer.text in (NOT_COVERED, support.NOT_FOUND) and not answer.citations
        return "not_covered"
    assert answer.citations
    if any(c.get("quote") for c in answer.citations):
        [citation] = answer.citations
        # The quote is the document's own text at the cited offsets.
        assert _extracted(citation["path"])[citation["start"]:citation["end"]] == citation["text"]
        assert " ".join(citation["text"].split()) in answer.text
        return "quote"
    assert any(support.supported(answer.text, c["text"], answer.question) for c in answer.citations)
    return "statement"


def test_a_supported_statement_is_kept_with_its_citation(engine):
    answer = engine.ask("What is the default page size of the database file?")
    kind = _check_shown_answer(answer)
    assert "4096" in answer.text
    assert Path(answer.citations[0]["path"]).name == "storage.md"
    assert kind in ("statement", "quote")


def test_a_yes_no_question_gets_the_pages_sentence_not_a_bare_yes(engine):
    answer = engine.ask("Can the page size be changed?")
    kind = _check_shown_answer(answer)
    assert kind in ("statement", "quote")
    assert "first table" in answer.text
    assert answer.text.strip(" .!").lower() not in {"yes", "no", "yes, you can", "no, you can't"}


def test_a_draft_contradicting_the_page_is_replaced_by_the_pages_sentence(engine):
    from desktop_app.core.chat.engine import TokenStreamed

    events = []
    answer = engine.ask("Is the journal kept after the transaction commits?", on_event=events.append)
    draft = "".join(e.text for e in events if isinstance(e, TokenStreamed)).strip()
    journal = "Every write transaction is recorded in a rollback journal next to the database file. " \
              "The journal is deleted when the transaction commits."
    # The default model's draft ("The journal is kept after ...") is not
    # supported by the page; the answer then is the page's own sentence.
    assert not support.supported(draft, journal, answer.question), draft
    assert _check_shown_answer(answer) == "quote"
    assert "The journal is deleted when the transaction commits." in answer.text
    assert draft not in answer.text
    assert Path(answer.citations[0]["path"]).name == "storage.md"


def test_an_off_topic_question_is_not_covered(engine):
    answer = engine.ask("Who painted the Mona Lisa?")
    assert _check_shown_answer(answer) == "not_covered"


def test_passages_found_but_no_sentence_answers_says_so_not_that_the_library_lacks_the_topic(engine):
    # The journal is in the library, its size is not: the passages are found
    # (so "your library does not cover this" would be wrong), no sentence answers.
    answer = engine.ask("How many bytes does the rollback journal take on disk?")
    assert not answer.covered and not answer.citations
    assert answer.text == support.NOT_FOUND


def test_citations_point_only_at_given_passages(engine):
    from desktop_app.core.chat.engine import RetrievalDone

    events = []
    answer = engine.ask("When is fresh bread delivered?", on_event=events.append)
    given = [h for h in events[0].hits] if isinstance(events[0], RetrievalDone) else []
    assert answer.citations
    for citation in answer.citations:
        assert any(h.path == citation["path"] and h.start <= citation["start"] < citation["end"] <= h.end
                   for h in given), citation
    _check_shown_answer(answer)


def test_a_hard_wrapped_paragraph_is_read_as_sentences_not_lines():
    # Markdown and plain text wrap lines inside a sentence; a list item, a
    # heading and a sentence end still end a sentence.
    text = ("## The light\nIn 2019\nthe lamp was converted. **The light is visible for\n23 nautical miles "
            "in clear weather** and flashes\ntwice.\n- Tested monthly\n- checked by the keeper")
    sentences = [text[a:b] for a, b in support.sentence_spans(text)]
    assert sentences == ["## The light", "In 2019\nthe lamp was converted.",
                         "**The light is visible for\n23 nautical miles in clear weather** and flashes\ntwice.",
                         "- Tested monthly", "- checked by the keeper"]
    quote = support.Quote(Source(1, "/d/light.md", text), text.index("**The"), text.index("twice.") + 6, 1.0)
    assert quote.text == "**The light is visible for 23 nautical miles in clear weather** and flashes twice."
