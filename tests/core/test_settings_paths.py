import json
import stat

import pytest

from desktop_app.core.paths import AppPaths, atomic_write
from desktop_app.core.settings import SCHEMA_VERSION, Settings, SettingsError


def test_settings_round_trip_with_schema_version(tmp_path):
    s = Settings(temperature=0.7, retrieval_k=7)
    s.save(tmp_path / "settings.json")
    data = json.loads((tmp_path / "settings.json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    loaded = Settings.load(tmp_path / "settings.json")
    assert loaded.temperature == 0.7 and loaded.retrieval_k == 7


def test_invalid_or_corrupt_settings_fall_back_to_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"temperature": 99, "retrieval_k": "many", "chunk_tokens": 128, "bogus": 1}))
    loaded = Settings.load(path)
    assert loaded.temperature == Settings().temperature
    assert loaded.retrieval_k == Settings().retrieval_k
    assert loaded.chunk_tokens == 128
    path.write_text("{not json")
    assert Settings.load(path) == Settings()
    with pytest.raises(SettingsError):
        Settings(context_length=10).save(path)


def test_data_dir_is_user_only(tmp_path):
    paths = AppPaths.at(tmp_path / "d").ensure()
    for folder in (paths.data_dir, paths.library_dir, paths.config_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    Settings().save(paths.settings_file)
    assert stat.S_IMODE(paths.settings_file.stat().st_mode) == 0o600


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as fh:
            fh.write(b"new and half")
            raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
