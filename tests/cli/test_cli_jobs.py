"""The CLI's shared job plumbing (progress bar, Ctrl-C token, user errors,
--force) as the model commands use it, on real files."""

from __future__ import annotations

import io
import os

import pytest

from desktop_app.cli import ProgressPrinter, UserError, main, output_path, progress_job
from desktop_app.core.jobs import Cancelled, Progress


class ShownBar(ProgressPrinter):
    def __init__(self) -> None:
        super().__init__(stream=io.StringIO(), enabled=True)


def test_progress_job_closes_the_bar_and_turns_job_errors_into_user_errors():
    bar = ShownBar()
    with pytest.raises(UserError, match="disk is on fire"):
        with progress_job(ValueError, printer=bar) as (token, printer):
            printer(Progress("writing", 1, 4, "a.gguf"))
            raise ValueError("disk is on fire")
    assert bar.stream.getvalue().endswith("1/4  a.gguf\n")  # the bar line was ended
    bar = ShownBar()
    with pytest.raises(Cancelled):
        with progress_job(ValueError, printer=bar) as (token, printer):
            printer(Progress("writing", 2, 4))
            token.cancel()
            token.check()
    assert bar.stream.getvalue().endswith("\n")
    with pytest.raises(KeyError):  # not a job error: a bug, shown as such
        with progress_job(ValueError, printer=ShownBar()):
            raise KeyError("x")


def test_output_path_refuses_to_replace_without_force(tmp_path):
    there = tmp_path / "model.gguf"
    there.write_bytes(b"mine")
    with pytest.raises(UserError, match="exists; pass --force"):
        output_path(there, force=False)
    assert output_path(there, force=True) == there
    assert output_path(tmp_path / "new.gguf", force=False) == tmp_path / "new.gguf"


@pytest.mark.parametrize("command", [["quantize", "--type", "Q8_0"], ["dequantize"], ["prune", "--remove-layers", "2"]])
def test_model_commands_never_overwrite_an_existing_file(default_llm, tmp_path, capsys, command):
    out = tmp_path / "variant.gguf"
    out.write_bytes(b"the user's own file")
    code = main(["--data-dir", str(tmp_path / "data"), "model", command[0], str(default_llm), "-o", str(out),
                 *command[1:]])
    assert code == 2 and "exists; pass --force" in capsys.readouterr().err
    assert out.read_bytes() == b"the user's own file"
    assert sorted(os.listdir(tmp_path)) == ["data", "variant.gguf"]
