"""`hearth library files FOLDER`: the per-folder file list from a terminal,
over the same core call the Library page uses."""

from __future__ import annotations

from tests.cli.test_data_dir_faults import hearth, ok_json, one_clear_sentence, seeded_data_dir, write_facts


def test_files_lists_each_file_with_state_reason_and_passages(tmp_path, embedder):
    docs = tmp_path / "docs"
    write_facts(docs)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    data = seeded_data_dir(tmp_path, embedder)
    ok_json(hearth(data, "library", "add", docs, "--json"))

    files = ok_json(hearth(data, "library", "files", docs, "--json"))
    by_name = {f["path"].rsplit("/", 1)[-1]: f for f in files}
    assert len(by_name) == 4
    broken = by_name.pop("broken.pdf")
    assert broken["state"] == "failed" and broken["reason"] and broken["passages"] == 0
    assert all(f["state"] == "indexed" and f["passages"] >= 1 for f in by_name.values())
    status = ok_json(hearth(data, "library", "status", "--json"))
    assert sum(f["passages"] for f in by_name.values()) == status["folders"][0]["chunks"]

    text = hearth(data, "library", "files", docs).stdout.decode()
    assert "failed    " in text and "broken.pdf" in text

    one_clear_sentence(hearth(data, "library", "files", tmp_path / "elsewhere"), "not a folder or file in the library")
