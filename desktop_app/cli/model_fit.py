"""`hearth model fit SRC (--max-mb N | --max-memory-mb N [--ctx C]) -o OUT`:
the per-tensor-type mix of a model with the least measured KL that fits a
file-size or memory budget (core/llm/fit.py: search_fit, then build_fit)."""

from __future__ import annotations

import sys
from pathlib import Path

from desktop_app.cli import UserError, output_path, print_json, progress_job


def _cmd_fit(args, services) -> int:
    from desktop_app.core.llm.calibration import LIBRARY
    from desktop_app.core.llm.catalog import describe_size
    from desktop_app.core.llm.fit import PRESETS, Budget, FitError, build_fit, memory_budget, search_fit, table
    from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info

    limit = args.max_mb if args.max_mb is not None else args.max_memory_mb
    if limit <= 0:
        raise UserError("the budget must be a positive number of megabytes")
    if args.start.upper() not in PRESETS:
        raise UserError(f"--start must be one of {', '.join(PRESETS)}")
    if not args.src.is_file():
        raise UserError(f"no model file at {args.src}")
    out = output_path(args.output, args.force)
    if args.max_mb is not None:
        budget = Budget(int(args.max_mb * 1e6))
    else:
        try:
            info = read_gguf_info(args.src, with_lineage=False)
            budget = memory_budget(info, int(args.max_memory_mb * 1e6),
                                   args.ctx or services.settings.context_length)
        except (GGUFError, FitError) as exc:
            raise UserError(str(exc)) from None
    library = services.library if str(args.calibration) == LIBRARY else None
    print(f"searching a mix of tensor types for {args.src.name} within {budget.describe()} "
          f"(each candidate is quantized and its KL from the source measured)…", file=sys.stderr)
    with progress_job(FitError, GGUFError) as (token, printer):
        services.ensure_safe_loading()
        found = search_fit(args.src, budget, work_in=out.expanduser().absolute().parent,
                           start_preset=args.start.upper(), text=args.calibration, library=library,
                           from_f16=args.from_f16, windows=args.windows, max_steps=args.max_steps,
                           presets=tuple(p.upper() for p in args.presets), prune_layers=args.prune_layers,
                           token=token, report=printer)
        if found.best is None:
            raise FitError(found.no_fit_message())
        result = build_fit(found, found.best, out, evaluate_windows=args.evaluate_windows or None,
                           token=token, report=printer, catalog=services.catalog)
    if args.json:
        print_json({"path": str(result.path), "file_size": result.chosen.file_size,
                    "kl_mean": result.chosen.kl_mean, "overrides": dict(result.chosen.types),
                    "budget_bytes": budget.file_bytes, "memory_budget_bytes": budget.memory_bytes,
                    "memory_budget_ctx": budget.n_ctx,
                    "candidates": [{"name": c.name, "overrides": dict(c.types), "file_size": c.file_size,
                                    "kl_mean": c.kl_mean, "preset": c.is_preset,
                                    "removed_layers": list(c.removed_layers)} for c in result.candidates],
                    "lineage": result.lineage})
        return 0
    print(table(result.candidates, result.chosen))
    print(f"chose {result.chosen.name}: {result.chosen.describe()}  KL {result.chosen.kl_mean:.4f}")
    print(f"wrote {result.path} ({describe_size(result.chosen.file_size)})")
    if result.evaluation is not None and result.evaluation.kl_mean is not None:
        print(f"evaluated on the bundled evaluation text: KL from the source {result.evaluation.kl_mean:.4f}, "
              f"perplexity {result.evaluation.perplexity:.2f}")
    return 0


def register_fit(commands) -> None:
    p = commands.add_parser("fit", help="fit a model in a size or memory budget with the least loss (mixed tensor types)")
    p.add_argument("src", type=Path, help="an F16 or F32 GGUF (or a quantized one with --from-f16)")
    budget = p.add_mutually_exclusive_group(required=True)
    budget.add_argument("--max-mb", type=float, metavar="N", help="file size budget in MB (10^6 bytes)")
    budget.add_argument("--max-memory-mb", type=float, metavar="N",
                        help="memory budget in MB: what the loaded model may use at --ctx tokens of context")
    p.add_argument("--ctx", type=int, default=None, metavar="TOKENS",
                   help="context length for --max-memory-mb (default: the context length in Settings)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    p.add_argument("--start", default="Q4_K_M", metavar="PRESET", help="the standard preset the search starts from")
    p.add_argument("--presets", nargs="*", default=[], metavar="PRESET",
                   help="standard presets to measure as well, for comparison (e.g. Q3_K_M Q4_K_S)")
    p.add_argument("--calibration", type=Path, default=None, metavar="FILE|library",
                   help="text the KL is measured on (default: the bundled calibration text; "
                        "`library`: passages of your library)")
    p.add_argument("--from-f16", action="store_true",
                   help="a quantized SRC: convert it to F16 first (its earlier loss stays)")
    p.add_argument("--prune-layers", type=int, default=0, metavar="N",
                   help="also measure the best mix with its 1..N least important blocks removed")
    p.add_argument("--windows", type=int, default=4, help="windows of 256 tokens per measurement")
    p.add_argument("--max-steps", type=int, default=12, help="at most this many search steps")
    p.add_argument("--evaluate-windows", type=int, default=8,
                   help="windows of 512 tokens the built model is evaluated on (0: skip)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_fit)
