"""`hearth model fit SRC --max-mb N -o OUT`: the per-tensor-type mix of an
F16 model with the least measured KL that fits a size budget (core/llm/fit.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from desktop_app.cli import UserError, output_path, print_json, progress_job


def _cmd_fit(args, services) -> int:
    from desktop_app.core.llm.catalog import GGUFError, describe_size
    from desktop_app.core.llm.fit import PRESETS, FitError, fit, table

    if args.max_mb <= 0:
        raise UserError("--max-mb must be a positive number of megabytes")
    if args.start.upper() not in PRESETS:
        raise UserError(f"--start must be one of {', '.join(PRESETS)}")
    if not args.src.is_file():
        raise UserError(f"no model file at {args.src}")
    out = output_path(args.output, args.force)
    print(f"searching a mix of tensor types for {args.src.name} under {args.max_mb:g} MB "
          f"(each candidate is quantized and its KL from the parent measured)…", file=sys.stderr)
    with progress_job(FitError, GGUFError) as (token, printer):
        services.ensure_safe_loading()
        result = fit(args.src, out, int(args.max_mb * 1e6), start_preset=args.start.upper(),
                     text=args.calibration, windows=args.windows, max_steps=args.max_steps,
                     token=token, report=printer, catalog=services.catalog)
    if args.json:
        print_json({"path": str(result.path), "file_size": result.chosen.file_size,
                    "kl_mean": result.chosen.kl_mean, "overrides": dict(result.chosen.types),
                    "candidates": [{"name": c.name, "overrides": dict(c.types), "file_size": c.file_size,
                                    "kl_mean": c.kl_mean} for c in result.candidates],
                    "lineage": result.lineage})
        return 0
    print(table(result.candidates, result.chosen))
    print(f"chose {result.chosen.name}: {result.chosen.describe()}  KL {result.chosen.kl_mean:.4f}")
    print(f"wrote {result.path} ({describe_size(result.chosen.file_size)})")
    return 0


def register_fit(commands) -> None:
    p = commands.add_parser("fit", help="fit a model in a size budget with the least loss (mixed tensor types)")
    p.add_argument("src", type=Path, help="an F16 or F32 GGUF (`model dequantize` makes one)")
    p.add_argument("--max-mb", type=float, required=True, metavar="N", help="size budget in MB (10^6 bytes)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT")
    p.add_argument("--start", default="Q4_K_M", metavar="PRESET", help="the standard preset the search starts from")
    p.add_argument("--calibration", type=Path, default=None, metavar="FILE",
                   help="text the KL is measured on (default: the bundled calibration text)")
    p.add_argument("--windows", type=int, default=4, help="windows of 256 tokens per measurement")
    p.add_argument("--max-steps", type=int, default=12, help="at most this many search steps")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(handler=_cmd_fit)
