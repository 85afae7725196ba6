"""From a prompt or chat messages to the tokens the model reads.

A model with a chat template gets its messages rendered by that template
(``tools`` included, for native tool calling), with control-token text in
user content and documents broken first so a passage cannot close a turn or
open a tool call. A model without a usable template gets Hearth's plain
completion prompt. Everything here that takes ``llm`` runs on the session's
owner thread (see session.py); the functions themselves hold no state.
"""

from __future__ import annotations

import logging
import re
from typing import Optional, Sequence, Union

log = logging.getLogger(__name__)

Messages = Sequence[dict]
PromptOrMessages = Union[str, Messages]

_CONTROL_PATTERN = re.compile(r"<\|[^|<>\s]{1,40}\|>|<(?:start|end)_of_turn>|</?s>|<bos>|<eos>")


def neutralize_control_text(text: str) -> str:
    """Break strings that a chat template's tokenizer would read as control
    tokens (``<|im_end|>``, ``<end_of_turn>``...) inside user content and
    documents, so a passage cannot close a turn or open a tool call."""
    return _CONTROL_PATTERN.sub(lambda m: m.group(0).replace("<", "< ", 1), text)


PLAIN_ROLES = {"system": "Instructions", "user": "User", "assistant": "Assistant", "tool": "Tool result"}


def plain_prompt(messages: Messages) -> str:
    """The completion prompt for a model without a chat template."""
    parts = []
    for message in messages:
        role = PLAIN_ROLES.get(message.get("role", "user"), "User")
        parts.append(f"{role}: {message.get('content') or ''}".rstrip())
    parts.append("Assistant:")
    return "\n\n".join(parts)


def chat_formatter(llm, name: str):
    """The model's chat template and a Jinja2ChatFormatter for it, or
    ``(None, None)`` when the model has none or jinja cannot parse it (then
    the plain prompt is used). ``name`` only labels the warning."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llm.metadata.get("tokenizer.chat_template") or None
    if not template:
        return None, None
    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    try:
        formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
        )
    except Exception as exc:  # a template jinja cannot parse: use the plain prompt
        log.warning("%s: chat template unusable (%s); using a plain prompt", name, exc)
        return None, None
    return template, formatter


def render_messages(formatter, messages: Messages, tools: Optional[list[dict]]) -> str:
    """The prompt text for ``messages``: the model's own chat template when
    it has one (``formatter``), else the plain completion prompt."""
    if formatter is None:
        return plain_prompt(messages)
    clean = [dict(m, content=neutralize_control_text(m["content"]))
             if isinstance(m.get("content"), str) and m.get("role") != "system" else dict(m)
             for m in messages]
    return formatter(messages=clean, tools=tools or None).prompt


def tokenize_prompt(llm, formatter, prompt: PromptOrMessages, tools) -> list[int]:
    """The tokens for a prompt string (taken as it is) or chat messages
    (rendered by ``render_messages``)."""
    if isinstance(prompt, str):
        return llm.tokenize(prompt.encode("utf-8", errors="replace"), add_bos=True, special=False)
    text = render_messages(formatter, prompt, tools)
    if formatter is None:
        return llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    # The template's control tokens must parse as special tokens; it
    # usually writes the BOS itself.
    tokens = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    bos = llm.token_bos()
    if bos != -1 and (not tokens or tokens[0] != bos) and _wants_bos(llm):
        tokens.insert(0, bos)
    return tokens


def _wants_bos(llm) -> bool:
    value = llm.metadata.get("tokenizer.ggml.add_bos_token")
    return value is None or str(value).lower() == "true"
