"""The tool registry and the calculator tool as the chat layer uses them."""

from __future__ import annotations

import json

from desktop_app.core.tools.base import Tool, ToolResult
from desktop_app.core.tools.registry import CalculatorTool, ToolRegistry, default_registry


def test_default_registry_offers_the_calculator():
    registry = default_registry()
    assert registry.names() == ["calculator"]
    tool = registry.get("calculator")
    assert isinstance(tool, Tool)
    assert [t.name for t in registry] == ["calculator"]
    assert registry.get("nope") is None
    assert "calculator" in registry
    # a fresh registry each time: no shared state between services
    assert default_registry() is not registry


def test_schemas_are_openai_style_tool_definitions():
    (schema,) = default_registry().schemas()
    assert schema["type"] == "function"
    function = schema["function"]
    assert function["name"] == "calculator"
    assert function["parameters"]["required"] == ["expression"]
    assert function["parameters"]["properties"]["expression"]["type"] == "string"
    json.dumps(schema)  # must be serializable into a chat template


def test_calculator_tool_runs_dicts_json_strings_and_bare_expressions():
    tool = CalculatorTool()
    assert tool.run({"expression": "17.5% * 2,340"}) == ToolResult(
        "409.5", True, {"expression": "17.5% * 2340", "value": "409.5", "exact": True})
    assert tool.run('{"expression": "(3+4)*12"}').output == "84"
    assert tool.run("2^10").output == "1024"
    assert tool.run({"expression": 7}).output == "7"


def test_tool_errors_come_back_as_results_never_exceptions():
    registry = default_registry()
    for arguments in [{"expression": "1/0"}, {"expression": "9**9**9**9"}, {}, {"expr": "1"},
                      {"expression": None}, "{not json", ["1+1"], {"expression": "__import__('os')"}]:
        result = registry.run("calculator", arguments)
        assert result.ok is False, arguments
        assert result.output.startswith("error: ")
    assert "division by zero" in registry.run("calculator", {"expression": "1/0"}).output
    unknown = registry.run("weather", {"city": "Oslo"})
    assert not unknown.ok and "unknown tool 'weather'" in unknown.output


def test_a_raising_third_party_tool_is_contained():
    class BrokenTool:
        name = "broken"
        description = "always fails"
        parameters = {"type": "object", "properties": {}}

        def run(self, arguments):
            raise RuntimeError("disk on fire")

    registry = ToolRegistry([BrokenTool()])
    result = registry.run("broken", {})
    assert not result.ok and "disk on fire" in result.output
