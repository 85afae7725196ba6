"""Cited answers: retrieve, plan tools, prompt within budget, stream, cite.

``ChatEngine.ask`` runs one turn on the caller's thread (a worker in the GUI,
the main thread in the CLI); the model itself runs on the session's owner
thread. Progress goes out as small frozen events through ``on_event``:
``RetrievalDone``, ``ToolCalled``, ``TokenStreamed`` and finally
``AnswerFinished``.

How a turn goes:

1. Retrieval: ``library.search(question, k=settings.retrieval_k)``. Passages
   whose cosine similarity to the question is below ``MIN_SIMILARITY`` are not
   used; when none is left the library does not cover the question and the
   answer says so (the model is not asked to invent one), unless the
   question is plain arithmetic, which needs no library.
2. Numbers (``wordproblem.py``, answer texts in ``calculation.py``). A model
   whose chat template supports tools gets the calculator natively and
   decides itself when to call it (at most ``MAX_TOOL_CALLS`` calls a turn).
   For other models Hearth decides from the question only (passages are
   data): arithmetic written in it runs as is; a word problem runs only an
   expression the model proposed consistently from the question's and the
   passages' numbers. Failing that, with passages retrieved, the question
   may be a look-up worded like a computation ("how many times ..."): the
   checked document answer of step 5 is shown if it agrees (``Lookup``),
   else Hearth says it could not work it out. Either way a calculator
   result is stated unchanged and an error is the answer.
3. Prompt (texts and grammars in ``prompts.py``): numbered sources, recent
   history and the question, fitted to the
   context window with the model's own tokenizer (answer tokens reserved;
   passages truncated, then dropped; history dropped oldest first).
4. Generation streams tokens; the answer's ``[n]`` markers become citations
   (see ``citations.py`` for the policy).
5. A document answer of the plain (small-model) path is shown only when a
   passage supports it; otherwise the passage's own supporting sentence is
   quoted, or the question is "not covered" (``support.py``).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from desktop_app.core.chat import calculation, followup, support, wordproblem
from desktop_app.core.chat.citations import Source, resolve_citations
from desktop_app.core.chat.conversations import Conversation, Turn
from desktop_app.core.chat.prompts import (
    NON_EMPTY_LINE, PLAIN_HEADER, PLAIN_STOPS, SYSTEM_PROMPT)
from desktop_app.core.chat.toolcalls import may_be_call, parse_tool_calls
from desktop_app.core.jobs import CancelToken, Cancelled
from desktop_app.core.library.documents import Hit
from desktop_app.core.settings import Settings
from desktop_app.core.logs import user_text

log = logging.getLogger(__name__)

# Cosine of question and passage under the packaged all-MiniLM-L6-v2 below
# which a passage is not used, and with none above it the question is "not
# covered". Measured (small real libraries, tests/core/chat and a smoke run):
# answerable questions' best passage 0.49-0.66, off-topic ones 0.11-0.15.
# Over the Python docs (bench/grounding.py --small --limit 20): answerable
# 0.49-0.82 (all kept), off-topic 0.19-0.44 (2 of 15 above 0.30). 0.40
# would refuse one more off-topic question with no answerable one lost
# there; not switched yet because the small-library tests were not re-run.
MIN_SIMILARITY = 0.30
MAX_TOOL_CALLS = 3
HISTORY_TURNS = 4
SAFETY_TOKENS = 8
MIN_PASSAGE_TOKENS = 24

# What Hearth knows when no passage is close enough is what its search
# found, not what the library holds: a passage can state the answer in
# words the question does not use. So it says what it found.
NOT_COVERED = ("I found nothing in your library close enough to this question to answer it "
               "from, so I won't guess.")
EMPTY_LIBRARY = ("Your library is empty, so there is nothing to answer from. Add a folder of "
                 "documents in the Library first.")
_REFUSALS = (NOT_COVERED, EMPTY_LIBRARY, support.NOT_FOUND)


@dataclass(frozen=True)
class Lookup:
    """A question worded like a computation for which no arithmetic was
    verified. Its checked document answer is shown only when the two
    readings agree: the answer states the number the model's proposal
    copied from the passages, or no number at all (a number of the
    question quoted back would read as a result)."""

    looked_up: frozenset

    def agrees(self, text: str) -> bool:
        shown = wordproblem.numbers_in(support.strip_markers(text))
        return bool(self.looked_up & shown) if self.looked_up else not shown


# --- events ---------------------------------------------------------------------

@dataclass(frozen=True)
class RetrievalDone:
    hits: tuple[Hit, ...]          # the passages given to the model, ranked
    retrieval_ms: float
    covered: bool                  # False: nothing relevant was found


@dataclass(frozen=True)
class ToolCalled:
    tool: str
    input: str
    output: str
    ok: bool


@dataclass(frozen=True)
class TokenStreamed:
    text: str


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: list[dict] = field(default_factory=list)
    tool_calls: list[dict] = field(default_factory=list)
    retrieval_ms: float = 0.0
    first_token_ms: Optional[float] = None
    tokens_per_s: Optional[float] = None
    covered: bool = True
    stopped: bool = False          # the user stopped the answer
    prompt_tokens: int = 0
    tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "citations": self.citations,
            "tool_calls": self.tool_calls,
            "retrieval_ms": round(self.retrieval_ms, 1),
            "first_token_ms": None if self.first_token_ms is None else round(self.first_token_ms, 1),
            "tokens_per_s": None if self.tokens_per_s is None else round(self.tokens_per_s, 2),
            "covered": self.covered,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class AnswerFinished:
    answer: Answer


Event = Any
OnEvent = Callable[[Event], None]


def _label(source: Source) -> str:
    name = source.path.replace("\\", "/").rsplit("/", 1)[-1]
    where = []
    if source.section:
        where.append(source.section)
    if source.page:
        where.append(f"page {source.page}")
    return f"{name} ({', '.join(where)})" if where else name


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ChatEngine:
    def __init__(self, library, session, tools, settings: Settings, *,
                 first_step_grammar: Optional[str] = None) -> None:
        self.library = library
        self.session = session
        self.tools = tools
        self.settings = settings
        # GBNF for a tool-capable model's first step. None in the app (the
        # model decides); the tests set a call grammar because the packaged
        # 270M base model, given a tools template, does not call on its own.
        self.first_step_grammar = first_step_grammar

    # ------------------------------------------------------------------ ask

    def ask(self, question: str, *, conversation: Optional[Conversation] = None,
            token: Optional[CancelToken] = None, on_event: OnEvent = lambda event: None,
            max_tokens: Optional[int] = None) -> Answer:
        """Answer ``question`` (one turn). When ``conversation`` is given its
        earlier turns are the history and the new turn is appended to it (the
        caller saves it). A stop request keeps the partial answer
        (``Answer.stopped``); a cancel before generation raises Cancelled."""
        token = token or CancelToken()
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        if self.session.loaded is None:
            self.session.load(Path(self.settings.model_path) if self.settings.model_path else None,
                              token=token)
        history = list(conversation.turns[-HISTORY_TURNS:]) if conversation else []

        sources, retrieval_ms, covered, library_empty, history, understood = self._retrieve(
            question, history, token)
        on_event(RetrievalDone(tuple(self._hits_of(sources)), retrieval_ms, covered))
        token.check()

        native = self._native_tools_enabled()
        lookup = None
        if not native:
            worked = self._work_out(question, sources if covered else [], token, on_event)
            if isinstance(worked, Lookup):
                lookup, worked = worked, None
            if worked is not None:
                # Hearth's own text, stated as is: its citations are the
                # passages that supplied numbers (no attribution to redo).
                text, tool_calls, cited = worked
                on_event(TokenStreamed(text))
                citations = [s.citation(inferred=False) for s in sources if s.n in cited]
                # Saying what could not be worked out is an abstention, not an answer.
                answer = Answer(question=question, text=text, citations=citations, tool_calls=tool_calls,
                                retrieval_ms=retrieval_ms,
                                covered=covered and text != calculation.NOT_WORKED_OUT)
                return self._finish(answer, conversation, on_event)
        token.check()

        refusal = EMPTY_LIBRARY if library_empty else NOT_COVERED
        if not covered and not native:
            on_event(TokenStreamed(refusal))
            answer = Answer(question=question, text=refusal, retrieval_ms=retrieval_ms, covered=False)
            return self._finish(answer, conversation, on_event)

        retrieved = sources
        tool_calls: list[dict] = []
        if native:
            result, sources, tool_calls = self._generate_native(question, sources, history, token,
                                                                on_event, max_tokens)
            if not covered and not tool_calls:
                # Nothing relevant in the library and no calculation: the
                # model's own text would be invented.
                result = _replace_text(result, refusal)
            elif tool_calls:
                result = _replace_text(result, calculation.final_text(result.text.strip(), tool_calls))
        else:
            result, sources = self._generate_plain(question, sources, history, token, on_event, max_tokens)
        if calculation.is_own_text(result.text):
            text, citations = result.text, []   # Hearth's statement of a result or error, as is
        else:
            text, citations = resolve_citations(result.text.strip(), sources, self._embed(), question)
        if covered and not native and not result.cancelled:
            # A document answer from the small model: its sentence only if a
            # passage supports it, else the passage's own sentence (support.py).
            given = {s.n for s in sources}
            # The base model may copy an earlier refusal from the history as
            # its draft: that is no reading of these passages.
            # A follow-up ("And a brake cable?") is checked against the
            # question as it was searched, with the turn it refers to; a
            # question that stands on its own, as asked, when that reading
            # finds no answer (the turn before can drown it).
            draft, given_sources = "" if text.strip() in _REFUSALS else text, [s for s in retrieved if s.n in given]
            for reading in dict.fromkeys((understood, question)):
                grounded = support.ground(reading, draft, citations, given_sources, self._embed())
                if grounded.kind != support.NOT_COVERED:
                    break
            covered = grounded.kind != support.NOT_COVERED
            text, citations = (grounded.text, grounded.citations) if covered else \
                (grounded.text or support.NOT_FOUND, [])
            if lookup is not None and covered and not lookup.agrees(text):
                # A computation was asked for and none was verified: a number
                # the answer shows must be the one the model looked up.
                log.info("document answer to a computation question states another number; none shown")
                text, citations, covered = calculation.NOT_WORKED_OUT, [], False
        elif not native and result.cancelled and \
                calculation.invented_numbers(text, [s.text for s in sources], question):
            # A stopped draft is not checked sentence by sentence; shown means
            # right: a number no passage states is not shown.
            text, citations = calculation.NOT_IN_DOCUMENTS, []
        answer = Answer(
            question=question, text=text, citations=citations, tool_calls=tool_calls,
            retrieval_ms=retrieval_ms, first_token_ms=result.first_token_ms,
            tokens_per_s=result.tokens_per_s, covered=covered, stopped=result.cancelled,
            prompt_tokens=result.prompt_tokens, tokens=result.tokens)
        return self._finish(answer, conversation, on_event)

    def _finish(self, answer: Answer, conversation: Optional[Conversation], on_event: OnEvent) -> Answer:
        if conversation is not None:
            conversation.add_turn(Turn(question=answer.question, answer=answer.text,
                                       citations=answer.citations, tool_calls=answer.tool_calls,
                                       stopped=answer.stopped))
        on_event(AnswerFinished(answer))
        return answer

    def _embed(self):
        """The library's embedder (texts -> unit vectors) for attributing
        citations by meaning; None without a library (word overlap then)."""
        if self.library is None or not hasattr(self.library, "embedder"):
            return None
        return self.library.embedder.encode

    # ------------------------------------------------------------ retrieval

    @staticmethod
    def _hits_of(sources: Sequence[Source]) -> list[Hit]:
        return [Hit(path=s.path, text=s.text, score=0.0, page=s.page, section=s.section,
                    start=s.start, end=s.end, similarity=s.similarity) for s in sources]

    def _retrieve(self, question: str, history: Sequence[Turn], token: CancelToken):
        started = time.perf_counter()
        hits: list[Hit] = []
        understood = question
        library_empty = self.library is None
        if self.library is not None:
            # Searched alone and with the earlier turn it refers to (followup.py);
            # that turn goes last in the prompt's history, nearest the question.
            found = followup.search_with_context(
                # Fused order, not re-ranked for variety: an answer needs a
                # page's neighbouring passages more than a second file.
                question, history, lambda q, k: self.library.search(q, k=k, rerank=False),
                self.settings.retrieval_k, self._embed())
            hits, history = found.hits, followup.prompt_history(history, found.referred)
            understood = found.query
            if not hits:
                library_empty = self._library_is_empty()
        retrieval_ms = (time.perf_counter() - started) * 1000
        relevant = [h for h in hits if h.similarity is None or h.similarity >= MIN_SIMILARITY]
        covered = any(h.similarity is not None and h.similarity >= MIN_SIMILARITY for h in relevant)
        if not covered:
            relevant = []
        sources = [Source(n=i + 1, path=h.path, text=h.text, page=h.page, section=h.section,
                          start=h.start, end=h.end, similarity=h.similarity)
                   for i, h in enumerate(relevant)]
        return sources, retrieval_ms, covered, library_empty, history, understood

    def _library_is_empty(self) -> bool:
        try:
            totals = self.library.status().get("totals", {})
            return not totals.get("chunks")
        except Exception:
            return False

    # ---------------------------------------------------------------- tools

    def _native_tools_enabled(self) -> bool:
        info = self.session.loaded
        return bool(info and info.supports_tools and self.tools is not None and len(self.tools))

    def _run_tool(self, name: str, arguments: dict, tool_calls: list[dict], on_event: OnEvent):
        result = self.tools.run(name, arguments)
        shown = arguments.get("expression") if isinstance(arguments.get("expression"), str) else \
            ", ".join(f"{k}={v}" for k, v in arguments.items())
        record = {"tool": name, "input": shown, "output": result.output, "ok": result.ok}
        tool_calls.append(record)
        on_event(ToolCalled(name, shown, result.output, result.ok))
        return result

    def _work_out(self, question: str, sources: Sequence[Source], token: CancelToken,
                  on_event: OnEvent):
        """For a model without native tools: the answer text, tool calls and
        cited passage numbers when the question asks for a number (see
        ``wordproblem.py``); None when it is a question for the documents; a
        ``Lookup`` when it asks for a number that no verified arithmetic
        gives but the passages may state."""
        if self.tools is None or "calculator" not in self.tools:
            return None
        calls: list[dict] = []
        expression = wordproblem.written_arithmetic(question)
        if expression is None:
            if not wordproblem.asks_to_compute(question):
                return None
            proposal = wordproblem.propose(self._writer(token), question, [s.text for s in sources])
            log.info("word problem: %s", user_text(proposal.expression) if proposal.expression else proposal.reason)
            if proposal.expression is None:
                if sources:
                    # No arithmetic Hearth can vouch for, but the question may
                    # be a look-up worded like a computation ("how many times
                    # ..."): the checked document answer is tried (see ask).
                    return Lookup(proposal.looked_up)
                return calculation.NOT_WORKED_OUT, calls, []
            expression = proposal.expression
        self._run_tool("calculator", {"expression": expression}, calls, on_event)
        if not calls[-1]["ok"]:
            return calculation.error_text(calls[-1]), calls, []
        cited = calculation.cited_sources(expression, wordproblem.numbers_in(question), sources)
        return calculation.result_text(calls[-1], cited), calls, cited

    def _writer(self, token: CancelToken) -> wordproblem.Writer:
        def write(prompt: str, grammar: str, temperature: float, seed: int) -> str:
            token.check()
            reserve = wordproblem.EXPRESSION_MAX_TOKENS
            if self.session.count_tokens(prompt) + 1 > self.session.n_ctx - reserve - SAFETY_TOKENS:
                return ""
            result = self.session.generate(prompt, token=token, max_tokens=reserve, grammar=grammar,
                                           temperature=temperature, seed=seed)
            if result.cancelled:
                raise Cancelled()
            return result.text
        return write

    # -------------------------------------------------------------- prompts

    def _answer_budget(self, max_tokens: Optional[int]) -> tuple[int, int]:
        reserve = min(max_tokens or self.settings.max_tokens, self.session.n_ctx // 2)
        return reserve, self.session.n_ctx - reserve - SAFETY_TOKENS

    def _truncate(self, text: str, max_tokens: int) -> str:
        tokens = self.session.tokenize(text)
        if len(tokens) <= max_tokens:
            return text
        cut = self.session.detokenize(tokens[:max_tokens]).rstrip()
        return cut + " …"

    def _fit_sources(self, sources: Sequence[Source], room: int) -> list[Source]:
        """Sources truncated/dropped so their block fits in ``room`` tokens."""
        fitted: list[Source] = []
        remaining = room
        for i, source in enumerate(sources):
            left = len(sources) - i
            share = max(MIN_PASSAGE_TOKENS, remaining // left)
            header = self.session.count_tokens(f"[{source.n}] {_label(source)}\n") + 2
            if remaining - header < MIN_PASSAGE_TOKENS:
                break
            text = self._truncate(_one_line(source.text), min(share, remaining - header))
            used = header + self.session.count_tokens(text)
            fitted.append(Source(n=len(fitted) + 1, path=source.path, text=text, page=source.page,
                                 section=source.section, start=source.start, end=source.end,
                                 similarity=source.similarity))
            remaining -= used
        return fitted

    def _plain_prompt(self, question: str, sources: Sequence[Source], history) -> str:
        parts = [PLAIN_HEADER]
        for turn in history:
            parts.append(f"Question: {_one_line(turn.question)}\nAnswer: {_one_line(turn.answer)}\n\n")
        if sources:
            parts.append("Sources:\n")
            parts.extend(f"[{s.n}] {_label(s)}\n{_one_line(s.text)}\n" for s in sources)
        else:
            parts.append("Sources: none\n")
        parts.append(f"Question: {_one_line(question)}\nAnswer:")
        return "".join(parts)

    def _build_within_budget(self, build: Callable[[Sequence[Source], Sequence[Turn]], Any],
                             count: Callable[[Any], int], sources: Sequence[Source],
                             history: Sequence[Turn], budget: int):
        """Fit history and sources into ``budget`` tokens of the final prompt."""
        history = list(history)
        fixed = count(build([], []))
        if fixed > budget:
            raise ValueError("the question alone does not fit in the model's context; "
                             "ask a shorter question or raise the context length")
        # History gets at most a quarter of the room; recent turns first.
        while history and count(build([], history)) - fixed > (budget - fixed) // 4:
            history.pop(0)
        room = budget - count(build([], history))
        fitted = self._fit_sources(sources, room)
        prompt = build(fitted, history)
        # The exact count of the assembled prompt decides (token counts of
        # pieces do not add up exactly): shrink until it fits.
        while count(prompt) > budget:
            if fitted:
                last = fitted[-1]
                if self.session.count_tokens(last.text) > 2 * MIN_PASSAGE_TOKENS:
                    half = self._truncate(last.text, self.session.count_tokens(last.text) // 2)
                    fitted[-1] = Source(**{**last.__dict__, "text": half})
                else:
                    fitted.pop()
            elif history:
                history.pop(0)
            else:
                break
            prompt = build(fitted, history)
        return prompt, fitted

    # ------------------------------------------------------------ generation

    def _stream(self, on_event: OnEvent):
        return lambda text: on_event(TokenStreamed(text))

    def _generate_plain(self, question, sources, history, token, on_event, max_tokens):
        reserve, budget = self._answer_budget(max_tokens)
        count = lambda prompt: self.session.count_tokens(prompt) + 1  # + BOS
        prompt, fitted = self._build_within_budget(
            lambda s, h: self._plain_prompt(question, s, h), count, sources, history, budget)
        result = self.session.generate(prompt, token=token, on_token=self._stream(on_event),
                                       max_tokens=reserve, stop=PLAIN_STOPS)
        if not result.text.strip() and not result.cancelled:
            # The base model sometimes ends its answer before writing one
            # (a newline first): ask again, with a line that must not be empty.
            log.info("empty answer; asking again for a non-empty line")
            result = self.session.generate(prompt, token=token, on_token=self._stream(on_event),
                                           max_tokens=reserve, stop=PLAIN_STOPS, grammar=NON_EMPTY_LINE)
        return result, fitted

    def _messages(self, question, sources, history, tool_turns=()) -> list[dict]:
        system = SYSTEM_PROMPT + "\n\nSources:\n" + (
            "".join(f"[{s.n}] {_label(s)}\n{_one_line(s.text)}\n\n" for s in sources) or "none\n")
        messages: list[dict] = [{"role": "system", "content": system}]
        for turn in history:
            messages.append({"role": "user", "content": turn.question})
            messages.append({"role": "assistant", "content": turn.answer})
        messages.append({"role": "user", "content": question})
        messages.extend(tool_turns)
        return messages

    def _generate_native(self, question, sources, history, token, on_event, max_tokens):
        """A model with native tool calling decides itself when to call the
        calculator: it is pure and bounded, so a call a passage suggested is
        harmless (a future tool with effects would need the user's consent).
        Its calls are parsed from its own output in its template's format."""
        schemas = self.tools.schemas()
        tool_calls: list[dict] = []
        tool_turns: list[dict] = []
        reserve, budget = self._answer_budget(max_tokens)
        while True:
            count = lambda msgs: len(self.session.tokenize(
                self.session.format_messages(msgs, tools=schemas), special=True))
            messages, fitted = self._build_within_budget(
                lambda s, h: self._messages(question, s, h, tool_turns), count, sources, history, budget)
            gate = _StreamGate(self._stream(on_event))
            grammar = self.first_step_grammar if not tool_calls else None
            result = self.session.generate(messages, token=token, on_token=gate, max_tokens=reserve,
                                           tools=schemas, grammar=grammar)
            calls = parse_tool_calls(result.text)
            if not calls or result.cancelled:
                gate.flush()
                return result, fitted, tool_calls
            if len(tool_calls) >= MAX_TOOL_CALLS:
                log.info("ignoring %d tool call(s): limit reached", len(calls))
                text = re.sub(r"<tool_call>.*?(</tool_call>|$)", "", result.text, flags=re.S).strip()
                return _replace_text(result, text or NOT_COVERED), fitted, tool_calls
            tool_turns.append({"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": c.name, "arguments": dict(c.arguments)}}
                for c in calls[: MAX_TOOL_CALLS - len(tool_calls)]]})
            for call in calls[: MAX_TOOL_CALLS - len(tool_calls)]:
                outcome = self._run_tool(call.name, dict(call.arguments), tool_calls, on_event)
                tool_turns.append({"role": "tool", "name": call.name, "content": outcome.output})
            token.check()


def _replace_text(result, text: str):
    from dataclasses import replace

    return replace(result, text=text)


class _StreamGate:
    """Holds streamed text back while it may still be the start of a tool
    call, so the user never sees raw call syntax."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self._emit = emit
        self._held = ""
        self._open = False

    def __call__(self, text: str) -> None:
        if self._open:
            self._emit(text)
            return
        self._held += text
        if not may_be_call(self._held):
            self._open = True
            self._emit(self._held)
            self._held = ""

    def flush(self) -> None:
        if self._held and not parse_tool_calls(self._held):
            self._emit(self._held)
        self._held = ""

