"""The language model: catalog, session, optimization workflows.

Importing the package honours HEARTH_LLAMA_NO_REPACK (see native.py), so a
child process started by Hearth loads models the way its parent does."""

from desktop_app.core.llm.native import apply_repack_choice as _apply_repack_choice

_apply_repack_choice()
