"""`hearth ask ...` and `hearth chat ...`: cited answers from a terminal.

``ask "QUESTION"`` streams the answer to stdout, then lists the calculator
steps and the sources; ``--json`` prints one JSON document instead.
``ask --questions FILE --json`` answers one question per line (each its own
conversation) with the models loaded once, one JSON line per question; a
question that fails gets an ``{"question", "error"}`` line and the run goes
on (exit status 1 at the end when any failed).
Ctrl-C stops the answer (what was written so far is kept).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Optional

from desktop_app.cli import ProgressPrinter, UserError, interruptible, print_json
from desktop_app.core.jobs import Cancelled
from desktop_app.core.llm.session import GenerationError

# Failures a user can act on (a prompt too long for the context, a bad
# input): reported as their message. Anything else is a bug, reported as
# such for that question while the others go on.
_USER_ERRORS = (GenerationError, ValueError)

log = logging.getLogger(__name__)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _load_model(services, model: Optional[str], token) -> None:
    from desktop_app.core.llm.session import ModelLoadError

    path = Path(model).expanduser() if model else (
        Path(services.settings.model_path) if services.settings.model_path else None)
    printer = ProgressPrinter()
    try:
        services.llm.load(path, token=token, report=printer)
    except ModelLoadError as exc:
        raise UserError(str(exc)) from None
    finally:
        printer.close()


def _engine(services):
    from desktop_app.core.chat.engine import ChatEngine

    return ChatEngine(services.library, services.llm, services.tools, services.settings)


def _read_questions(path: str) -> list[str]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from None
    questions = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):  # a JSONL evaluation file: take its "question"
            try:
                line = str(json.loads(line)["question"]).strip()
            except (ValueError, KeyError, TypeError):
                pass
        questions.append(line)
    return questions


def _where(citation: dict) -> str:
    parts = [citation["path"]]
    if citation.get("page"):
        parts.append(f"page {citation['page']}")
    if citation.get("section"):
        parts.append(citation["section"])
    return ", ".join(parts)


def _print_sources(answer) -> None:
    out = sys.stdout
    if answer.tool_calls:
        out.write("\nCalculator:\n")
        for call in answer.tool_calls:
            out.write(f"  {call['input']} = {call['output']}\n")
    if answer.citations:
        out.write("\nSources:\n")
        for c in answer.citations:
            mark = " (inferred)" if c.get("inferred") else ""
            out.write(f"  [{c['n']}] {_where(c)}{mark}\n")
    out.flush()


def _gist(text: str) -> str:
    """An answer without its citation markers, spacing and final stop."""
    from desktop_app.core.chat.support import strip_markers

    return " ".join(strip_markers(text).split()).rstrip(".")


def _cmd_ask(args, services) -> int:
    from desktop_app.core.chat.conversations import Conversation, ConversationNotFound

    if bool(args.question) == bool(args.questions):
        raise UserError("give a QUESTION or --questions FILE")
    if args.questions and args.conversation:
        raise UserError("--conversation cannot be combined with --questions")
    questions = _read_questions(args.questions) if args.questions else [args.question]
    store = services.conversations
    failed = 0
    with interruptible() as token:
        _load_model(services, args.model, token)
        services.library.embedder  # load it now, so retrieval_ms measures retrieval only
        engine = _engine(services)
        for number, question in enumerate(questions, 1):
            conversation = Conversation()
            if args.conversation:
                try:
                    conversation = store.load(args.conversation)
                except ConversationNotFound:
                    raise UserError(f"no saved conversation {args.conversation}") from None
            try:
                _answer_one(args, engine, store, question, conversation, token)
            except Cancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - one question's failure is its own line
                if not args.questions:
                    if isinstance(exc, _USER_ERRORS):
                        raise UserError(str(exc)) from None
                    raise
                failed += 1
                log.warning("question %d of %d failed: %s", number, len(questions), type(exc).__name__,
                            exc_info=not isinstance(exc, _USER_ERRORS))
                message = str(exc) if isinstance(exc, _USER_ERRORS) else f"internal error ({type(exc).__name__}: {exc})"
                if args.json:
                    print_json({"question": question, "error": message})
                else:
                    _say(f"hearth: question {number} could not be answered: {message}")
            if token.cancelled:
                break
    if token.cancelled:
        return 130
    if failed:
        _say(f"hearth: {failed} of {len(questions)} questions could not be answered")
        return 1
    return 0


def _answer_one(args, engine, store, question: str, conversation, token) -> None:
    from desktop_app.core.chat.engine import TokenStreamed

    streamed: list[str] = []

    def on_event(event):
        if not args.json and isinstance(event, TokenStreamed):
            streamed.append(event.text)
            sys.stdout.write(event.text)
            sys.stdout.flush()

    answer = engine.ask(question, conversation=conversation, token=token, on_event=on_event)
    if not args.no_save:
        store.save(conversation)
    if args.json:
        doc = answer.to_dict()
        if args.questions:
            doc = {"question": question, **doc}
        if not args.no_save:
            doc["conversation"] = conversation.id
        print_json(doc)
    else:
        if _gist(answer.text) != _gist("".join(streamed)):
            # The draft was checked against the sources and replaced
            # (a quote of the passage, or "not covered"): show what counts.
            sys.stdout.write(f"\n-> {answer.text}")
        sys.stdout.write("\n")
        _print_sources(answer)
        if answer.stopped:
            _say("hearth: stopped")


def _cmd_list(args, services) -> int:
    summaries = services.conversations.list()
    if args.json:
        print_json([s.to_dict() for s in summaries])
        return 0
    if not summaries:
        _say("no saved conversations")
    for s in summaries:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.updated))
        print(f"{s.id}  {when}  {s.turns:>3} turn(s)  {s.title}")
    return 0


def _cmd_show(args, services) -> int:
    from desktop_app.core.chat.conversations import ConversationNotFound

    try:
        conversation = services.conversations.load(args.id)
    except ConversationNotFound:
        raise UserError(f"no saved conversation {args.id}") from None
    if args.json:
        print_json(conversation.to_dict())
        return 0
    print(conversation.title)
    for turn in conversation.turns:
        print(f"\n> {turn.question}\n{turn.answer}")
        for call in turn.tool_calls:
            print(f"  calculator: {call.get('input')} = {call.get('output')}")
        for c in turn.citations:
            print(f"  [{c.get('n')}] {_where(c)}")
    return 0


def _cmd_delete(args, services) -> int:
    from desktop_app.core.chat.conversations import ConversationNotFound

    try:
        services.conversations.delete(args.id)
    except ConversationNotFound:
        raise UserError(f"no saved conversation {args.id}") from None
    return 0


def register(subparsers) -> None:
    ask = subparsers.add_parser(
        "ask", help="ask a question about your documents",
        description="Answer a question from your library with the local model, citing sources.")
    ask.add_argument("question", nargs="?", help="the question (quote it)")
    ask.add_argument("--questions", metavar="FILE",
                     help="answer each line of FILE ('-' = stdin) as its own conversation")
    ask.add_argument("--json", action="store_true", help="print JSON (one line per question)")
    ask.add_argument("--model", metavar="PATH", help="GGUF model to use instead of the chosen one")
    ask.add_argument("--conversation", metavar="ID", help="continue a saved conversation")
    ask.add_argument("--no-save", action="store_true", help="do not save the conversation")
    ask.set_defaults(handler=_cmd_ask)

    chat = subparsers.add_parser("chat", help="saved conversations: list, show, delete")
    commands = chat.add_subparsers(dest="chat_command", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", help="saved conversations, newest first")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_cmd_list)
    show = commands.add_parser("show", help="one saved conversation")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_cmd_show)
    delete = commands.add_parser("delete", help="delete a saved conversation")
    delete.add_argument("id")
    delete.set_defaults(handler=_cmd_delete)
