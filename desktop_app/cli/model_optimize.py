"""`hearth model prune` and `hearth model evaluate`: registered into the
`model` group by desktop_app/cli/model.py's SUBCOMMANDS list."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from desktop_app.cli import UserError, output_path, print_json, progress_job


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _ranking_table(ranking, removed) -> str:
    lines = ["rank  layer  attention  influence  ", "----  -----  ---------  ---------"]
    for s in sorted(ranking, key=lambda s: s.rank):
        mark = "removed" if s.layer in removed else ""
        lines.append(f"{s.rank:>4}  {s.layer:>5}  {s.attention:<9}  {s.influence:9.5f}  {mark}")
    return "\n".join(lines)


# --- prune ---------------------------------------------------------------------------

def _parse_layers(value: str):
    value = value.strip()
    try:
        if "," in value or value.startswith("["):
            return [int(x) for x in value.strip("[]").split(",") if x.strip()]
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("give a number of layers (4) or a list of block indices (3,7,8)") from None


def _cmd_prune(args, services) -> int:
    from desktop_app.core.llm.catalog import describe_size
    from desktop_app.core.llm.optimize.prune import PruneError
    from desktop_app.core.llm.workflows import prune_variant

    out = output_path(args.output, args.force)
    if not args.src.is_file():
        raise UserError(f"no model file at {args.src}")
    with progress_job(PruneError) as (token, printer):
        services.ensure_safe_loading()
        result = prune_variant(args.src, out, args.remove_layers, calibration_text=args.calibration,
                               token=token, report=printer, catalog=services.catalog,
                               library=services.library if str(args.calibration) == "library" else None)
    if args.json:
        print_json(result.to_dict())
        return 0
    if result.ranking:
        print("Block influence on the calibration text (1 - cos(input, output); low = changes little):")
        print(_ranking_table(result.ranking, set(result.removed_layers)))
    print(f"removed layers {result.removed_layers}: {result.block_count_before} -> {result.block_count_after} blocks")
    print(result.attention_note)
    print(f"wrote {result.path} ({describe_size(result.file_size)}, was {describe_size(result.source_size)})")
    return 0


def register_prune(commands) -> None:
    p = commands.add_parser(
        "prune", help="remove the least important transformer blocks (structured layer pruning)",
        description="Ranks blocks by block influence on calibration text, removes the N least important "
                    "(never the first or last when chosen automatically) and writes a new GGUF.")
    p.add_argument("src", type=Path)
    p.add_argument("--remove-layers", required=True, type=_parse_layers, metavar="N|I,J,...",
                   help="how many blocks to remove, or which (comma-separated block indices)")
    p.add_argument("--calibration", type=Path, metavar="FILE|library",
                   help="text to rank the blocks on (default: the bundled calibration text; "
                        "'library': passages sampled from your library)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_prune)


# --- evaluate ------------------------------------------------------------------------

def _cmd_evaluate(args, services) -> int:
    from desktop_app.core.llm.optimize.evaluate import EvaluationError, compare, markdown_table, save_chart
    from desktop_app.core.llm.workflows import evaluate_variant

    for path in args.paths:
        if not path.is_file():
            raise UserError(f"no model file at {path}")
    if args.text is not None and not args.text.is_file():
        raise UserError(f"no text file at {args.text}")
    results = []
    failures = []
    with progress_job() as (token, printer):
        services.ensure_safe_loading()
        for path in args.paths:
            # by default a Hearth-made variant is compared with the model it was made from
            parent = None if args.no_parent else (args.parent or "recorded")
            try:
                results.append(evaluate_variant(path, text=args.text, parent=parent, n_ctx=args.ctx,
                                                max_windows=args.windows, measure_speed=not args.no_speed,
                                                token=token, report=printer))
            except EvaluationError as exc:
                printer.close()
                _say(f"hearth: {path.name}: {exc}")
                failures.append({"path": str(path), "error": str(exc)})
    rows = compare([Path(r.model) for r in results], text_sha256=results[0].text_sha256 if results else None,
                   n_ctx=args.ctx)
    if args.chart and rows:
        save_chart(rows, args.chart, title=f"evaluated on {results[0].text_name}, n_ctx {args.ctx}")
        _say(f"chart saved to {args.chart}")
    if args.json:
        print_json({"evaluations": [r.to_dict() for r in results], "failed": failures,
                    "chart": str(args.chart) if args.chart and rows else None})
    else:
        print(markdown_table(rows))
    if failures and not results:
        return 1
    return 0


def register_evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate", help="measure size, memory, speed, perplexity and KL divergence from the parent",
        description="Perplexity as llama.cpp's perplexity tool (fixed windows, second half scored); KL divergence "
                    "of the next-token distribution from the parent (by default the model a Hearth variant was "
                    "made from). Results are kept next to each model.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--text", type=Path, metavar="FILE", help="evaluation text (default: the bundled public-domain text)")
    p.add_argument("--parent", type=Path, metavar="PATH", help="compare every model with this one (KL divergence)")
    p.add_argument("--no-parent", action="store_true", help="do not compute KL divergence")
    p.add_argument("--ctx", type=int, default=512, help="window size in tokens (default 512, as llama.cpp)")
    p.add_argument("--windows", type=int, default=16, help="at most this many windows (default 16)")
    p.add_argument("--no-speed", action="store_true", help="skip the speed and memory measurement")
    p.add_argument("--chart", type=Path, metavar="PNG", help="save a chart of all evaluated models")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_evaluate)
