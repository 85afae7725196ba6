"""Calibration on the user's library, end to end: real documents indexed
with the real embedder, passages sampled with documents held out, then
`model quantize --calibration library` and `model prune --calibration
library` on the real default model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from desktop_app.cli import main
from desktop_app.core.llm.calibration import CalibrationError, library_calibration
from desktop_app.core.llm.lineage import read_sidecar

TUTORIAL = Path("/usr/share/doc/python3.11/html/tutorial")
PAGES = ["classes.html", "controlflow.html", "datastructures.html", "errors.html", "inputoutput.html",
         "modules.html", "stdlib.html", "introduction.html"]


@pytest.fixture(scope="module")
def library_data(tmp_path_factory, embedder):
    if not TUTORIAL.is_dir():
        pytest.skip("the Python tutorial (python3.11-doc) is not installed")
    docs = tmp_path_factory.mktemp("docs")
    for name in PAGES:
        shutil.copyfile(TUTORIAL / name, docs / name)
    data = tmp_path_factory.mktemp("data")
    assert main(["--data-dir", str(data), "library", "add", str(docs)]) == 0
    return data, docs


def test_passages_are_sampled_with_documents_held_out(library_data):
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.services import Services

    data, docs = library_data
    services = Services(AppPaths.at(data).ensure())
    try:
        cal = library_calibration(services.library, max_chars=20_000)
        again = library_calibration(services.library, max_chars=20_000)
    finally:
        services.close()
    assert cal == again                       # seeded: the same passages each time
    assert 15_000 <= len(cal.calibration) <= 25_000 and cal.passages > 10
    assert cal.documents >= 3 and cal.held_out_documents >= 1 and cal.held_out
    # held-out passages come from other documents than the calibration ones
    # (a passage is compared whole-paragraph; short lines such as ">>>" or a
    # blank code line occur in many documents and say nothing about which)
    def paragraphs(text):
        return {p for p in text.split("\n\n") if len(p) >= 40}

    assert not paragraphs(cal.held_out) & paragraphs(cal.calibration)


def test_an_empty_library_says_so(tmp_path):
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.services import Services

    services = Services(AppPaths.at(tmp_path / "empty").ensure())
    try:
        with pytest.raises(CalibrationError, match="no indexed passages"):
            library_calibration(services.library)
    finally:
        services.close()


def test_quantize_and_prune_calibrated_on_the_library(library_data, default_llm, tmp_path, capsys):
    data, _ = library_data
    out = tmp_path / "lib-Q4_K_S.gguf"
    assert main(["--data-dir", str(data), "model", "quantize", str(default_llm), "--type", "Q4_K_S",
                 "--allow-requant", "--calibration", "library", "--chunks", "2", "-o", str(out), "--json"]) == 0
    capsys.readouterr()
    settings = read_sidecar(out)["settings"]
    assert settings["calibration_source"] == "library"
    assert settings["calibration"].startswith("your library (") and "windows of" in settings["calibration"]
    assert settings["imatrix"] == "computed from the calibration text"
    assert not list(tmp_path.glob(".*"))      # the passages file and the matrix are gone

    pruned = tmp_path / "lib-pruned.gguf"
    assert main(["--data-dir", str(data), "model", "prune", str(default_llm), "--remove-layers", "1",
                 "--calibration", "library", "-o", str(pruned), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["removed_layers"]) == 1 and len(doc["ranking"]) == 18

    # an empty library: one clear sentence, no traceback
    assert main(["--data-dir", str(tmp_path / "none"), "model", "quantize", str(default_llm), "--type", "Q4_K_S",
                 "--allow-requant", "--calibration", "library", "-o", str(tmp_path / "x.gguf")]) == 2
    err = capsys.readouterr().err
    assert "no indexed passages" in err and "Traceback" not in err


def test_fit_search_measures_on_the_library_when_asked(library_data, default_llm, tmp_path):
    """`search_fit(text="library")`, as the Fit to size dialog and `model fit
    --calibration library` ask: the KL is measured on the library's passages
    (a budget below the smallest reachable size keeps it to one measurement)."""
    from desktop_app.core.llm.fit import FitError, search_fit
    from desktop_app.core.paths import AppPaths
    from desktop_app.core.services import Services

    data, _ = library_data
    services = Services(AppPaths.at(data).ensure())
    try:
        found = search_fit(default_llm, 100_000_000, work_in=tmp_path, text="library", library=services.library,
                           from_f16=True, windows=2)
        bundled = search_fit(default_llm, 100_000_000, work_in=tmp_path, from_f16=True, windows=2)
    finally:
        services.close()
    assert found.calibration_note.startswith("your library (") and found.via_f16
    assert bundled.calibration_note.startswith("the bundled text")
    # the same preset measured on other text gives another KL
    assert found.measured[0].file_size == bundled.measured[0].file_size
    assert found.measured[0].kl_mean != bundled.measured[0].kl_mean
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FitError, match="needs the library"):
        search_fit(default_llm, 100_000_000, work_in=tmp_path, text="library", from_f16=True)
