"""The Tool protocol: what the chat layer needs to offer a tool to a model.

A tool has a ``name``, a one-line ``description`` and a JSON-schema
``parameters`` object (the shape native tool calling expects), and a
``run(arguments) -> ToolResult``. ``run`` never raises: a bad argument or a
failure inside the tool comes back as ``ToolResult(ok=False)`` with a message
a user (or a model) can act on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Union, runtime_checkable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    output: str                      # what the model and the user see
    ok: bool = True
    data: Mapping[str, Any] = field(default_factory=dict)  # structured details, tool-specific


@runtime_checkable
class Tool(Protocol):
    name: str
    description: str
    parameters: dict

    def run(self, arguments: Union[Mapping[str, Any], str]) -> ToolResult: ...


def coerce_arguments(arguments: Union[Mapping[str, Any], str, None], parameters: dict) -> dict:
    """Arguments as a dict, whatever form a model produced them in.

    Native tool calls carry arguments as a JSON string; a model may also give
    a bare string for a one-parameter tool. Raises ValueError with a
    user-facing message when they cannot be understood.
    """
    if arguments is None:
        arguments = {}
    if isinstance(arguments, str):
        text = arguments.strip()
        try:
            decoded = json.loads(text) if text.startswith("{") else None
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            arguments = decoded
        else:
            required = parameters.get("required", [])
            if len(required) != 1:
                raise ValueError("arguments must be a JSON object")
            arguments = {required[0]: arguments}
    if not isinstance(arguments, Mapping):
        raise ValueError("arguments must be a JSON object")
    missing = [name for name in parameters.get("required", []) if name not in arguments]
    if missing:
        raise ValueError(f"missing argument: {', '.join(missing)}")
    return dict(arguments)
