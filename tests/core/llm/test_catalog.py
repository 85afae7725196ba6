"""The model catalog on the real packaged GGUF and on real broken files."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from desktop_app.core.llm.catalog import CatalogError, ModelCatalog
from desktop_app.core.llm.gguf_header import GGUFError, read_gguf_info
from desktop_app.core.llm.lineage import read_sidecar, sidecar_path, write_sidecar


def test_default_model_header(default_llm):
    info = read_gguf_info(default_llm)
    assert info.architecture == "gemma3"
    assert info.name == "Gemma 3 270m"
    assert info.layer_count == 18
    assert info.context_length == 32768
    assert info.embedding_length == 640
    assert info.file_type == "Q4_K_M" and info.quantization == "Q4_K_M"
    assert info.file_size == default_llm.stat().st_size
    assert info.tensor_count == 236 == sum(info.tensor_types.values()) == len(info.tensors)
    assert info.tensor_types["F32"] > 0 and "Q4_K" in info.tensor_types
    # "270M" in name; the count is the sum of tensor elements
    assert info.parameter_count == sum(t.n_elements for t in info.tensors)
    assert 250e6 < info.parameter_count < 290e6
    # the packaged file carries no chat template in its metadata
    assert info.chat_template is False
    assert info.is_quantized
    assert info.lineage is None
    blocks = {t.name.split(".")[1] for t in info.tensors if t.name.startswith("blk.")}
    assert len(blocks) == info.layer_count
    # the tensor data ends exactly at the end of the file
    assert max(t.offset + t.n_bytes for t in info.tensors) == info.file_size


def test_non_gguf_files_are_refused_clearly(tmp_path):
    noise = tmp_path / "noise.gguf"
    noise.write_bytes(os.urandom(4096))
    text = tmp_path / "notes.gguf"
    text.write_text("These are my notes, not a model.\n" * 20)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    for path in (noise, text):
        with pytest.raises(GGUFError, match="not a GGUF model"):
            read_gguf_info(path)
    with pytest.raises(GGUFError, match="only 0 bytes"):
        read_gguf_info(empty)
    with pytest.raises(GGUFError, match="no such file"):
        read_gguf_info(tmp_path / "missing.gguf")
    with pytest.raises(GGUFError, match="folder"):
        read_gguf_info(tmp_path)


def test_truncated_gguf_is_refused_at_every_cut(default_llm, tmp_path):
    info = read_gguf_info(default_llm)
    data_start = min(t.offset for t in info.tensors)
    cut = tmp_path / "cut.gguf"
    shutil.copyfile(default_llm, cut)
    # Shrink one copy step by step: the last byte, mid tensor data, right
    # after the header, inside the tensor infos, inside the vocabulary, the
    # first key, the counts.
    points = [info.file_size - 1, info.file_size // 2, data_start + 1, data_start - 1,
              data_start - 5000, 2_000_000, 1000, 30, 16]
    for size in sorted(points, reverse=True):
        os.truncate(cut, size)
        with pytest.raises(GGUFError) as caught:
            read_gguf_info(cut)
        message = str(caught.value)
        assert "cut.gguf" in message
        assert "truncated" in message or "ends inside its header" in message, message


def test_sidecar_merges_keys_atomically(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"x")
    assert read_sidecar(model) is None
    write_sidecar(model, {"parent": "/a.gguf", "method": "quantize", "settings": {"type": "Q8_0"}})
    merged = write_sidecar(model, {"evaluation": {"ppl": 12.5}})
    assert merged["method"] == "quantize" and merged["evaluation"] == {"ppl": 12.5}
    assert read_sidecar(model) == merged
    # no temporary file left next to the model
    assert {p.name for p in tmp_path.iterdir()} == {"m.gguf", "m.gguf.hearth.json"}
    sidecar_path(model).write_text("{broken")
    assert read_sidecar(model) is None


@pytest.fixture
def catalog(app_paths, default_llm, tmp_path):
    """A catalog whose 'project models folder' is a tmp folder holding the
    real default model (hard-linked, so no 250 MB copy) and a broken file."""
    project = tmp_path / "project_models"
    project.mkdir()
    os.link(default_llm, project / "gemma.gguf")
    (project / "broken.gguf").write_text("not a model")
    return ModelCatalog(app_paths, project_models_dir=project, include_default=False)


def test_catalog_lists_good_and_bad_files(catalog):
    # neither Hearth's hidden temporaries nor importance matrices are models
    (catalog.project_models_dir / ".gemma.gguf.abc.hearth-part").write_bytes(b"GGUF")
    (catalog.project_models_dir / ".tmp.gguf").write_bytes(b"GGUF")
    (catalog.project_models_dir / "gemma.gguf.imatrix.gguf").write_bytes(b"GGUF")
    entries = {e.path.name: e for e in catalog.list()}
    assert set(entries) == {"gemma.gguf", "broken.gguf"}
    assert entries["gemma.gguf"].ok and entries["gemma.gguf"].info.architecture == "gemma3"
    assert entries["gemma.gguf"].source == "project"
    assert not entries["broken.gguf"].ok and "not a GGUF model" in entries["broken.gguf"].error
    doc = json.loads(json.dumps([e.to_dict() for e in entries.values()]))
    assert {d["ok"] for d in doc} == {True, False}


def test_catalog_add_persists_and_remove_forgets(catalog, app_paths, default_llm, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mine = elsewhere / "mine.gguf"
    os.link(default_llm, mine)
    entry = catalog.add(mine)
    assert entry.ok and entry.source == "added"
    with pytest.raises(GGUFError):
        catalog.add(tmp_path / "project_models" / "broken.gguf")
    # a fresh catalog (next start of the app) still knows it
    again = ModelCatalog(app_paths, project_models_dir=None, include_default=False)
    assert [e.path for e in again.list()] == [mine.resolve()]
    # the user's own file is never deleted, only forgotten
    with pytest.raises(CatalogError, match="not made by Hearth"):
        again.remove(mine, delete_file=True)
    assert mine.exists()
    again.remove(mine)
    assert again.list() == [] and mine.exists()


def test_hearth_made_variant_can_be_deleted_and_has_a_family(catalog, default_llm, app_paths):
    variant = app_paths.models_dir / "gemma-variant.gguf"
    os.link(default_llm, variant)
    parent = (catalog.project_models_dir / "gemma.gguf").resolve()
    write_sidecar(variant, {"parent": str(parent), "method": "quantize", "settings": {"type": "Q4_K_M"},
                            "created": "2026-01-01T00:00:00+00:00"})
    entries = {e.path.name: e for e in catalog.list()}
    assert entries["gemma-variant.gguf"].info.lineage["method"] == "quantize"
    assert entries["gemma-variant.gguf"].info.hearth_made
    tree = catalog.variants_of(variant)
    assert tree.path == parent
    assert [c.path.name for c in tree.children] == ["gemma-variant.gguf"]
    assert catalog.variants_of(parent).to_dict()["children"][0]["method"] == "quantize"
    catalog.remove(variant, delete_file=True)
    assert not variant.exists() and not sidecar_path(variant).exists()
    assert "gemma-variant.gguf" not in {e.path.name for e in catalog.list()}


def test_evaluating_a_users_model_does_not_make_it_hearth_made(catalog, default_llm, tmp_path, capsys):
    """The evaluator stores its results in a sidecar beside any model,
    including the packaged default and the user's own files; that sidecar
    holds no method or parent, so the model stays the user's and is never
    deletable through the catalog."""
    from desktop_app.cli import main

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    mine = elsewhere / "mine.gguf"
    os.link(default_llm, mine)
    catalog.add(mine)
    # what store_evaluation writes for a model evaluated on the bundled text
    write_sidecar(mine, {"evaluation": {"abc:512": {"perplexity": 21.5, "n_ctx": 512}}})
    info = {e.path.name: e for e in catalog.list()}["mine.gguf"].info
    assert info.lineage["evaluation"]["abc:512"]["perplexity"] == 21.5
    assert not info.hearth_made and info.to_dict()["hearth_made"] is False
    with pytest.raises(CatalogError, match="not made by Hearth"):
        catalog.remove(mine, delete_file=True)
    assert mine.exists()
    # a sidecar naming a method but no parent is hand-made, not Hearth's
    write_sidecar(mine, {"method": "quantize"})
    with pytest.raises(CatalogError, match="not made by Hearth"):
        catalog.remove(mine, delete_file=True)
    assert mine.exists() and not read_gguf_info(mine).hearth_made
    # the CLI does not label it Hearth-made either
    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "model", "add", str(mine)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(data), "model", "list"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if "mine.gguf" in l)
    assert "Hearth-made" not in line
    assert main(["--data-dir", str(data), "model", "info", str(mine)]) == 0
    assert "made by Hearth" not in capsys.readouterr().out


def test_cli_model_info_and_list_json(default_llm, tmp_path, capsys):
    from desktop_app.cli import main

    data = tmp_path / "data"
    assert main(["--data-dir", str(data), "model", "info", str(default_llm), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["architecture"] == "gemma3" and doc["layer_count"] == 18
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
    assert main(["--data-dir", str(data), "model", "info", str(bad)]) == 2
    assert "bad.gguf" in capsys.readouterr().err
    assert main(["--data-dir", str(data), "model", "add", str(default_llm)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(data), "model", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["models"]
    by_source = {m["source"]: m for m in listed}
    assert by_source["default"]["info"]["quantization"] == "Q4_K_M"
    assert by_source["added"]["path"] == str(default_llm.resolve())
