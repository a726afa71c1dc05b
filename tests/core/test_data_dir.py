import pytest

from mltk_core.data_dir import cache_dir, find_data_file, resolve_data_dir
from mltk_core.errors import UserInputError


def test_unset_data_dir_is_none(monkeypatch):
    monkeypatch.delenv("MLTK_DATA_DIR", raising=False)
    assert resolve_data_dir() is None


def test_environment_variable_used(monkeypatch, tmp_path):
    monkeypatch.setenv("MLTK_DATA_DIR", str(tmp_path))
    assert resolve_data_dir() == tmp_path


def test_explicit_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLTK_DATA_DIR", "/nonexistent")
    assert resolve_data_dir(tmp_path) == tmp_path


def test_missing_data_dir_names_source(monkeypatch):
    monkeypatch.setenv("MLTK_DATA_DIR", "/nonexistent-mltk")
    with pytest.raises(UserInputError, match="from MLTK_DATA_DIR"):
        resolve_data_dir()


def test_find_data_file_present(tmp_path):
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "x.csv").write_text("1,2\n")
    assert find_data_file("datasets/x.csv", tmp_path) == tmp_path / "datasets" / "x.csv"


def test_find_data_file_absent(tmp_path):
    assert find_data_file("datasets/x.csv", tmp_path) is None


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MLTK_CACHE_DIR", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache"
