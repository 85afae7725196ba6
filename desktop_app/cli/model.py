"""`hearth model ...`: the model workshop from a terminal.

Each subcommand is registered by its own ``_register_<name>(commands)``
function, listed in ``SUBCOMMANDS``; adding a command is adding one function
and one entry there.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from desktop_app.cli import UserError, output_path, print_json, progress_job

log = logging.getLogger(__name__)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def _info_or_user_error(services, path):
    from desktop_app.core.llm.gguf_header import GGUFError

    try:
        return services.catalog.info(path)
    except GGUFError as exc:
        raise UserError(str(exc)) from None


def _format_info_lines(info) -> list[str]:
    from desktop_app.core.llm.catalog import describe_size

    types = ", ".join(f"{name} x{count}" for name, count in info.tensor_types.items())
    lines = [
        f"{info.path}",
        f"  name:          {info.name or '-'} ({info.architecture})",
        f"  quantization:  {info.quantization}",
        f"  parameters:    {info.parameter_count / 1e6:.1f} M",
        f"  file size:     {describe_size(info.file_size)}",
        f"  layers:        {info.layer_count}",
        f"  context:       {info.context_length}",
        f"  embedding:     {info.embedding_length}",
        f"  chat template: {'yes' if info.chat_template else 'no'}",
        f"  tensors:       {info.tensor_count} ({types})",
    ]
    if info.hearth_made:
        lin = info.lineage
        lines.append(f"  made by Hearth: {lin.get('method')} of {lin.get('parent_name') or lin.get('parent')}"
                     f" on {lin.get('created')}")
    return lines


# --- list / info / add / remove ---------------------------------------------

def _cmd_list(args, services) -> int:
    with progress_job() as (token, printer):
        entries = services.catalog.list(token=token, report=printer)
    if args.json:
        print_json({"models": [e.to_dict() for e in entries]})
        return 0
    from desktop_app.core.llm.catalog import describe_size

    for e in entries:
        if e.ok:
            made = "  [Hearth-made]" if e.info.hearth_made else ""
            print(f"{e.label:<40} {describe_size(e.info.file_size):>10}  {e.source:<10} {e.path}{made}")
        else:
            print(f"{e.path.name:<40} {'-':>10}  {e.source:<10} {e.path}  ERROR: {e.error}")
    return 0


def _register_list(commands) -> None:
    p = commands.add_parser("list", help="list known models (packaged, models folders, added)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_list)


def _cmd_info(args, services) -> int:
    info = _info_or_user_error(services, args.path)
    fit = _fit_or_user_error(services, info, args.ctx) if args.ctx else None
    if args.json:
        doc = info.to_dict()
        if args.tensors:
            doc["tensors"] = [{"name": t.name, "type": t.type, "shape": list(t.shape), "bytes": t.n_bytes}
                              for t in info.tensors]
        if fit is not None:
            doc["fit"] = _fit_doc(fit)
        print_json(doc)
    else:
        print("\n".join(_format_info_lines(info)))
        if fit is not None:
            print("\n".join(_format_fit_lines(fit)))
    return 0


def _fit_or_user_error(services, info, n_ctx: int):
    from desktop_app.core.llm.memory import MemoryEstimateError
    from desktop_app.core.llm.workflows import fit_check

    try:
        return fit_check(info, n_ctx, services.settings)
    except MemoryEstimateError as exc:
        raise UserError(str(exc)) from None


def _fit_doc(fit) -> dict:
    from dataclasses import asdict

    doc = asdict(fit)
    doc["check"]["estimate"]["total"] = fit.check.estimate.total
    doc["check"]["estimate"]["in_ram"] = fit.check.estimate.in_ram
    return doc


def _format_fit_lines(fit) -> list[str]:
    from desktop_app.core.llm.catalog import describe_size

    est = fit.check.estimate
    return [
        f"  memory at {est.n_ctx:,} tokens: {describe_size(est.total)} "
        f"(weights {describe_size(est.weights)}, KV cache {describe_size(est.kv_cache)}, "
        f"compute {describe_size(est.compute)}, runtime {describe_size(est.runtime + est.output)})",
        f"  GPU:           {fit.gpu_note}",
        f"  verdict:       {fit.check.message}",
    ]


def _cmd_fit_check(args, services) -> int:
    info = _info_or_user_error(services, args.path)
    fit = _fit_or_user_error(services, info, args.ctx or services.settings.context_length)
    if args.json:
        print_json(_fit_doc(fit))
    else:
        print("\n".join([str(info.path)] + _format_fit_lines(fit)))
    return 0 if fit.check.fits else 3


def _register_fit_check(commands) -> None:
    p = commands.add_parser("fit-check", help="will this model fit in free memory at a context length?")
    p.add_argument("path", type=Path)
    p.add_argument("--ctx", type=int, default=None, help="context length (default: the setting)")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_fit_check)


def _register_info(commands) -> None:
    p = commands.add_parser("info", help="show what is inside a GGUF file (header only)")
    p.add_argument("path", type=Path)
    p.add_argument("--tensors", action="store_true", help="with --json: also list every tensor")
    p.add_argument("--ctx", type=int, default=None, metavar="N",
                   help="also estimate the memory needed at N tokens of context")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_info)


def _cmd_add(args, services) -> int:
    from desktop_app.core.llm.gguf_header import GGUFError

    try:
        entry = services.catalog.add(args.path)
    except GGUFError as exc:
        raise UserError(str(exc)) from None
    if args.json:
        print_json(entry.to_dict())
    else:
        _say(f"added {entry.path} ({entry.label})")
    return 0


def _register_add(commands) -> None:
    p = commands.add_parser("add", help="add a GGUF file from anywhere to the catalog")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_add)


def _cmd_remove(args, services) -> int:
    from desktop_app.core.llm.catalog import CatalogError

    try:
        services.catalog.remove(args.path, delete_file=args.delete)
    except CatalogError as exc:
        raise UserError(str(exc)) from None
    _say(f"{'deleted' if args.delete else 'forgot'} {args.path}")
    return 0


def _register_remove(commands) -> None:
    p = commands.add_parser("remove", help="forget a model (--delete: delete a Hearth-made variant)")
    p.add_argument("path", type=Path)
    p.add_argument("--delete", action="store_true", help="also delete the file (Hearth-made variants only)")
    p.set_defaults(handler=_cmd_remove)


def _cmd_variants(args, services) -> int:
    tree = services.catalog.variants_of(args.path)
    if args.json:
        print_json(tree.to_dict())
        return 0

    def show(node, depth):
        method = (node.lineage or {}).get("method") or "original"
        quant = node.info.quantization if node.info else "?"
        print(f"{'  ' * depth}{node.path.name}  [{quant}, {method}]")
        for child in node.children:
            show(child, depth + 1)

    show(tree, 0)
    return 0


def _register_variants(commands) -> None:
    p = commands.add_parser("variants", help="show the family tree of a model's Hearth-made variants")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_variants)


# --- quantize / dequantize -----------------------------------------------------

def _cmd_quantize(args, services) -> int:
    from desktop_app.core.llm.catalog import describe_size
    from desktop_app.core.llm.gguf_header import GGUFError
    from desktop_app.core.llm.optimize import quantize as q
    from desktop_app.core.llm.optimize.imatrix import default_calibration_text
    from desktop_app.core.llm.workflows import quantize_variant

    qtype = args.type.upper()
    if qtype not in q.QUANT_TYPES:
        raise UserError(f"unknown type {args.type}; choose one of {', '.join(q.QUANT_TYPES)}")
    if args.imatrix and args.calibration:
        raise UserError("give either --imatrix or --calibration, not both")
    out = output_path(args.output, args.force)
    try:
        est = q.estimate(args.src, qtype)
    except GGUFError as exc:
        raise UserError(str(exc)) from None
    _say(f"{args.src.name} -> {qtype}: expected size about {describe_size(est.bytes)} "
         f"({est.bits_per_weight:.2f} bits/weight). {est.quality_note}")
    with progress_job(q.QuantizeError, GGUFError) as (token, printer):
        q.preflight(args.src, out, qtype, allow_requant=args.allow_requant)
        if args.imatrix is None and not args.no_imatrix and (args.calibration or qtype in q.IMATRIX_DEFAULT_TYPES):
            text = args.calibration or default_calibration_text()
            where = "passages of your library" if str(text) == "library" else text.name
            _say(f"calibrating on {where} (importance matrix; --no-imatrix skips this)…")
        services.ensure_safe_loading()
        result = quantize_variant(
            args.src, out, qtype, imatrix=args.imatrix, calibration_text=args.calibration,
            use_imatrix=False if args.no_imatrix else None, chunks=args.chunks,
            keep_imatrix=args.keep_imatrix, allow_requant=args.allow_requant, threads=args.threads,
            token=token, report=printer, catalog=services.catalog,
            library=services.library if str(args.calibration) == "library" else None)
    return _report_written(args, result)


def _report_written(args, result) -> int:
    """The end of quantize/dequantize: the result as JSON, or where it went."""
    from desktop_app.core.llm.catalog import describe_size

    if args.json:
        print_json(result.to_dict())
    else:
        _say(f"wrote {result.path} ({describe_size(result.file_size)}, {result.seconds:.1f} s)")
    return 0


def _register_quantize(commands) -> None:
    p = commands.add_parser("quantize", help="make a smaller copy of a model (llama.cpp quantization)",
                            formatter_class=argparse.RawDescriptionHelpFormatter,
                            description="Types: F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q4_K_M Q4_K_S Q4_0 "
                            "Q3_K_M Q3_K_S Q2_K.\nLow-bit K types (Q4_K_*, Q3_K_*, Q2_K) are calibrated with "
                            "an importance matrix on the bundled text unless --no-imatrix is given.")
    p.add_argument("src", type=Path)
    p.add_argument("--type", required=True, metavar="TYPE")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    p.add_argument("--imatrix", type=Path, metavar="FILE", help="an importance matrix (llama.cpp imatrix GGUF)")
    p.add_argument("--calibration", type=Path, metavar="FILE|library",
                   help="compute an importance matrix from this text first ('library': from passages "
                        "sampled from your library)")
    p.add_argument("--no-imatrix", action="store_true", help="do not calibrate low-bit types")
    p.add_argument("--keep-imatrix", action="store_true", help="keep the computed importance matrix next to OUT")
    p.add_argument("--chunks", type=int, default=None,
                   help="calibration windows of 512 tokens (default: as many as the text has, at most 32)")
    p.add_argument("--allow-requant", action="store_true",
                   help="allow quantizing an already quantized model (quality loss compounds)")
    p.add_argument("--threads", type=int, default=0, help="threads (0 = all cores)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_quantize)


def _cmd_dequantize(args, services) -> int:
    from desktop_app.core.llm.gguf_header import GGUFError
    from desktop_app.core.llm.optimize import quantize as q

    out = output_path(args.output, args.force)
    with progress_job(q.QuantizeError, GGUFError) as (token, printer):
        result = q.dequantize(args.src, out, to=args.to.upper(), token=token, report=printer,
                              catalog=services.catalog)
    return _report_written(args, result)


def _register_dequantize(commands) -> None:
    p = commands.add_parser("dequantize", help="convert a quantized model back to F16 (or F32)")
    p.add_argument("src", type=Path)
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    p.add_argument("--to", default="F16", choices=["F16", "F32", "f16", "f32"])
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_dequantize)


SUBCOMMANDS = [
    _register_list,
    _register_info,
    _register_fit_check,
    _register_add,
    _register_remove,
    _register_variants,
    _register_quantize,
    _register_dequantize,
]

# prune and evaluate live in their own module (another author's area).
from desktop_app.cli.model_optimize import register_evaluate, register_prune  # noqa: E402

SUBCOMMANDS += [register_prune, register_evaluate]

from desktop_app.cli.model_fit import register_fit  # noqa: E402

SUBCOMMANDS.append(register_fit)


def register(subparsers) -> None:
    group = subparsers.add_parser("model", help="pick, quantize, prune and measure local models")
    commands = group.add_subparsers(dest="model_command", metavar="SUBCOMMAND")
    group.set_defaults(handler=lambda args, services: (group.print_help(), 0)[1])
    for register_subcommand in SUBCOMMANDS:
        register_subcommand(commands)
