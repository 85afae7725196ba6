"""`hearth settings ...`: read and change the typed settings from a terminal.

The same ``Settings`` the window's dialog edits: one name, one value,
checked before it is saved. A change of the index settings says what the
re-index will cost (``reindex.py``); `hearth library reindex` runs it, and the
window starts it by itself at its next launch.
"""

from __future__ import annotations

import sys
from dataclasses import fields

from desktop_app.cli import UserError, print_json
from desktop_app.core.settings import Settings, SettingsError

INDEX_SETTINGS = ("chunk_tokens", "chunk_overlap", "embedder_backend")


def _parse(name: str, text: str):
    by_name = {f.name: f for f in fields(Settings)}
    if name not in by_name:
        raise UserError(f"there is no setting {name!r} (see: hearth settings show)")
    default = by_name[name].default
    if default is None or isinstance(default, str):
        return None if (default is None and text == "") else text
    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "yes", "no", "on", "off", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "yes", "on", "1")
        return type(default)(text)
    except ValueError:
        raise UserError(f"{name} needs a {type(default).__name__} value, not {text!r}") from None


def _cmd_show(args, services) -> int:
    values = {f.name: getattr(services.settings, f.name) for f in fields(Settings)}
    if args.json:
        print_json(values)
        return 0
    for name, value in values.items():
        print(f"{name} = {'' if value is None else value}")
    return 0


def _cmd_set(args, services) -> int:
    settings = services.settings
    value = _parse(args.name, args.value)
    old = getattr(settings, args.name)
    setattr(settings, args.name, value)
    try:
        settings.validate()
    except SettingsError as exc:
        setattr(settings, args.name, old)
        raise UserError(str(exc)) from None
    services.save_settings()
    print(f"{args.name} = {value}", file=sys.stderr)
    if args.name in INDEX_SETTINGS and value != old:
        from desktop_app.core.library.reindex import plan

        the_plan = plan(services.library)
        if the_plan.needed:
            print(f"{the_plan.describe()} Run `hearth library reindex` to do it now "
                  "(the window starts it by itself).", file=sys.stderr)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("settings", help="show or change the settings")
    commands = parser.add_subparsers(dest="settings_command", metavar="COMMAND", required=True)
    show = commands.add_parser("show", help="every setting and its value")
    show.add_argument("--json", action="store_true", help="print one JSON document")
    show.set_defaults(handler=_cmd_show)
    change = commands.add_parser("set", help="change one setting (checked before it is saved)")
    change.add_argument("name")
    change.add_argument("value")
    change.set_defaults(handler=_cmd_set)
