"""The set of tools offered to the model, and the calculator tool."""

from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Union

from desktop_app.core.tools.base import Tool, ToolResult, coerce_arguments
from desktop_app.core.tools.calculator import CalculatorError, evaluate

log = logging.getLogger(__name__)


class CalculatorTool:
    """Exact arithmetic for the model: see ``calculator.py`` for the language."""

    name = "calculator"
    description = (
        "Evaluate an arithmetic expression exactly. Use it for any arithmetic instead of "
        "computing in your head. Supports + - * / // % ^, parentheses, percentages "
        "(200 * 15%, 80 + 10%), and sqrt, log, ln, exp, sin, cos, tan, abs, round, min, "
        "max, floor, ceil, factorial, pi, e.")
    parameters = {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "The expression, e.g. (3 + 4) * 12 or 17.5% * 2340",
            },
        },
        "required": ["expression"],
    }

    def run(self, arguments: Union[Mapping[str, Any], str]) -> ToolResult:
        try:
            expression = coerce_arguments(arguments, self.parameters)["expression"]
            if not isinstance(expression, (str, int, float)) or isinstance(expression, bool):
                raise ValueError("expression must be text")
            result = evaluate(str(expression))
        except (CalculatorError, ValueError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            return ToolResult(output=f"error: {message}", ok=False, data={"error": message})
        except Exception as exc:  # a tool must never take the chat down
            from desktop_app.core.logs import user_text  # numbers from documents: see the log policy

            log.exception("calculator failed on %r", user_text(arguments))
            return ToolResult(output=f"error: internal calculator error ({type(exc).__name__})", ok=False,
                              data={"error": str(exc)})
        return ToolResult(output=result.text, ok=True,
                          data={"expression": result.expression, "value": result.text,
                                "exact": result.exact})


class ToolRegistry:
    """Tools by name, in the order they were added."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: Dict[str, Tool] = {}
        for tool in tools:
            self.add(tool)

    def add(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool

    def get(self, name: str) -> Optional[Tool]:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> List[str]:
        return list(self._tools)

    def run(self, name: str, arguments: Union[Mapping[str, Any], str, None]) -> ToolResult:
        """Run a tool by name; an unknown tool or any failure is an ok=False result."""
        tool = self._tools.get(name)
        if tool is None:
            known = ", ".join(self._tools) or "none"
            return ToolResult(output=f"error: unknown tool {name!r} (available: {known})", ok=False,
                              data={"error": "unknown tool"})
        try:
            return tool.run(arguments if arguments is not None else {})
        except Exception as exc:  # run() should not raise; a third-party tool might
            log.exception("tool %s raised", name)
            return ToolResult(output=f"error: {name} failed ({exc})", ok=False, data={"error": str(exc)})

    def schemas(self) -> List[dict]:
        """OpenAI-style ``tools`` list, as chat templates with native tool calling expect."""
        return [
            {"type": "function",
             "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in self._tools.values()
        ]


def default_registry() -> ToolRegistry:
    """A new registry with Hearth's built-in tools (today: the calculator)."""
    return ToolRegistry([CalculatorTool()])
