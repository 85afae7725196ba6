"""Rows for the model details pane: where another app keeps the model, the
memory it needs at the chosen context, and what the GPU setting does here.
Computed from the header the catalog already read (no file access, no
llama.cpp call on the GUI thread: the build's abilities are asked by the
catalog job and only read here)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def detail_rows(entry, settings) -> list[tuple[str, str]]:
    from desktop_app.core.llm.catalog import describe_size
    from desktop_app.core.llm.discovery import PLACE_LABELS
    from desktop_app.core.llm.memory import MemoryEstimateError, check_fit
    from desktop_app.core.llm.native import known_backend

    rows: list[tuple[str, str]] = []
    if entry.app_name:
        rows.append(("Found in", f"{PLACE_LABELS.get(entry.source, entry.source)} as {entry.app_name} "
                                 "(used in place, not copied)"))
    if entry.info is None:
        return rows
    build = known_backend()
    gpu_offload = bool(build and build.gpu_offload)
    try:
        check = check_fit(entry.info, settings.context_length, gpu_layers=settings.gpu_layers,
                          gpu_offload=gpu_offload)
    except MemoryEstimateError as exc:
        return rows + [("Memory", str(exc))]
    est = check.estimate
    rows.append((f"Memory at {est.n_ctx:,} tokens",
                 f"about {describe_size(est.in_ram)} (weights {describe_size(est.weights)}, "
                 f"KV cache {describe_size(est.kv_cache)})"))
    rows.append(("Fits this computer?", ("Yes. " if check.fits else "No. ") + check.message))
    if build is not None:
        rows.append(("GPU", build.description if not gpu_offload or not settings.gpu_layers
                     else f"{est.gpu_layers} layers on the GPU ({describe_size(est.on_gpu)})"))
    return rows
