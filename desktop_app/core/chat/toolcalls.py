"""Reading native tool calls out of a model's output.

Models whose chat template renders a ``tools`` list answer with a call in
their own format. The formats read here cover the common families:

- Hermes / Qwen / many fine-tunes: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
- Mistral: ``[TOOL_CALLS] [{"name": ..., "arguments": {...}}]``
- Llama 3.1 JSON tool calling: a bare ``{"name": ..., "parameters": {...}}``
  (optionally after ``<|python_tag|>``)

Anything else is plain answer text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

_TAGGED = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.S)
_MISTRAL = re.compile(r"\[TOOL_CALLS\]\s*(.*)", re.S)
# Where a tool call may begin; output starting like this is not streamed
# to the user until we know whether it is a call.
CALL_PREFIXES = ("<tool_call>", "[TOOL_CALLS]", "<|python_tag|>", "{")


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


def _calls_from_json(value: Any) -> list[ToolCall]:
    items = value if isinstance(value, list) else [value]
    calls = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("function"), dict):  # OpenAI-style wrapper
            item = item["function"]
        name = item.get("name")
        args = item.get("arguments", item.get("parameters", {}))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except json.JSONDecodeError:
                args = {"expression": args}
        if isinstance(name, str) and name and isinstance(args, dict):
            calls.append(ToolCall(name, args))
    return calls


def _first_json(text: str) -> Any:
    text = text.strip()
    for start, ch in enumerate(text):
        if ch in "{[":
            try:
                value, _ = json.JSONDecoder().raw_decode(text[start:])
                return value
            except json.JSONDecodeError:
                return None
    return None


def parse_tool_calls(text: str) -> list[ToolCall]:
    """The tool calls in ``text`` (empty when it is a plain answer)."""
    tagged = _TAGGED.findall(text)
    if tagged:
        calls = []
        for body in tagged:
            calls.extend(_calls_from_json(_first_json(body)))
        return calls
    mistral = _MISTRAL.search(text)
    if mistral:
        return _calls_from_json(_first_json(mistral.group(1)))
    stripped = text.strip()
    if stripped.startswith("<|python_tag|>"):
        stripped = stripped[len("<|python_tag|>"):].strip()
    if stripped.startswith("{"):
        value = _first_json(stripped)
        if isinstance(value, dict) and "name" in value and ("arguments" in value or "parameters" in value):
            return _calls_from_json(value)
    return []


def may_be_call(prefix: str) -> bool:
    """Could output that starts with ``prefix`` still turn into a tool call?"""
    head = prefix.lstrip()
    if not head:
        return True
    return any(p.startswith(head[: len(p)]) for p in CALL_PREFIXES)
