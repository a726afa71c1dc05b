"""Dataset registry: shapes and class counts of the real files, downloads, user CSVs."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from mltk_core.errors import UserInputError
from mltk_linearboost import datasets
from mltk_linearboost.bench.session import load_datasets
from mltk_linearboost.datasets import (
    BANKNOTE_FILE,
    CLAIM_DATASETS,
    DATASETS,
    DatasetUnavailableError,
    load_csv,
    load_dataset,
    packaged_file,
    read_keel,
)

PACKAGED = [name for name in DATASETS if name != "banknote"]


@pytest.mark.parametrize("name", PACKAGED)
def test_packaged_dataset_matches_registry(name):
    dataset = load_dataset(name)
    spec = DATASETS[name]
    assert dataset.X.shape == (spec.n_rows, spec.n_features)
    assert dataset.class_counts == spec.class_counts
    assert dataset.X.dtype == np.float64
    assert np.isfinite(dataset.X).all()
    assert len(dataset.feature_names) == spec.n_features


def test_registry_has_claim_and_development_sets():
    for name in (*CLAIM_DATASETS, "ionosphere", "hepatitis", "saheart"):
        assert name in DATASETS, name


def test_heart_is_binary_num_above_zero():
    frame, _ = read_keel(packaged_file("cleveland/cleveland.dat"))
    heart = load_dataset("heart")
    narrowing = frame["Num"].astype(int).to_numpy()
    assert set(np.unique(narrowing)) == {0, 1, 2, 3, 4}
    assert np.array_equal(heart.y, (narrowing > 0).astype(int))


def test_breast_cancer_positive_is_malignant():
    dataset = load_dataset("breast_cancer")
    assert dataset.class_names[1] == "malignant"
    assert int(dataset.y.sum()) == 212


def test_read_keel_parses_header_and_rows():
    frame, names = read_keel(packaged_file("haberman/haberman.dat"))
    assert names == ["Age", "Year", "Positive", "Class"]
    assert frame.shape == (306, 4)
    assert frame.loc[0, "Class"] == "negative"


def test_unknown_dataset_lists_registry():
    with pytest.raises(UserInputError) as raised:
        load_dataset("sonar")
    assert "sonar" in str(raised.value)
    assert "breast_cancer" in str(raised.value)


# Banknote: data directory, download, failure.


def test_banknote_from_data_dir(data_file):
    path = data_file(BANKNOTE_FILE)
    dataset = load_dataset("banknote", data_dir=path.parents[1])
    assert dataset.X.shape == (1372, 4)
    assert dataset.class_counts == {"genuine": 762, "forged": 610}


def test_banknote_truncated_file_rejected(tmp_path):
    target = tmp_path / BANKNOTE_FILE
    target.parent.mkdir(parents=True)
    target.write_text("3.6,8.6,-2.8,-0.4,0\n4.5,8.1,-2.4,-1.4,1\n")
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset("banknote", data_dir=tmp_path)
    assert "(2, 4)" in str(raised.value)


def test_banknote_downloads_into_cache(data_file, tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(data_file(BANKNOTE_FILE), served / "banknote.txt")
    cache = tmp_path / "cache"
    monkeypatch.setenv("MLTK_CACHE_DIR", str(cache))
    monkeypatch.delenv("MLTK_DATA_DIR", raising=False)

    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/banknote.txt"
        monkeypatch.setattr(datasets, "BANKNOTE_URL", url)
        dataset = load_dataset("banknote")
    finally:
        server.shutdown()
        server.server_close()

    assert dataset.X.shape == (1372, 4)
    assert (cache / BANKNOTE_FILE).is_file()


def test_banknote_unreachable_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("MLTK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLTK_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "BANKNOTE_URL", f"http://127.0.0.1:{_closed_port()}/x.txt")
    with pytest.raises(DatasetUnavailableError) as raised:
        load_dataset("banknote")
    assert "--data-dir" in str(raised.value)
    assert not (tmp_path / BANKNOTE_FILE).exists()


def test_unavailable_dataset_skipped(tmp_path, monkeypatch):
    monkeypatch.setenv("MLTK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLTK_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "BANKNOTE_URL", f"http://127.0.0.1:{_closed_port()}/x.txt")
    loaded = load_datasets(["haberman", "banknote"], folds=3)
    assert [dataset.name for dataset in loaded.datasets] == ["haberman"]
    assert loaded.skipped[0]["dataset"] == "banknote"


def test_small_class_skipped_for_many_folds():
    loaded = load_datasets(["hepatitis"], folds=20)  # 13 rows in its smallest class
    assert loaded.datasets == []
    assert "13 rows" in loaded.skipped[0]["reason"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class names it format
        pass


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# User CSV files.


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_csv_string_labels(tmp_path):
    path = _write(tmp_path / "toy.csv", "a,b,label\n1,2,yes\n3,4,no\n5,6,yes\n")
    dataset = load_csv(path, "label")
    assert dataset.name == "csv:toy"
    assert dataset.class_names == ["no", "yes"]
    assert dataset.y.tolist() == [1, 0, 1]
    assert dataset.feature_names == ["a", "b"]


def test_csv_missing_target_lists_columns(tmp_path):
    path = _write(tmp_path / "toy.csv", "a,b,label\n1,2,0\n3,4,1\n")
    with pytest.raises(UserInputError) as raised:
        load_csv(path, "class")
    assert "a, b, label" in str(raised.value)


def test_csv_non_numeric_feature_named(tmp_path):
    path = _write(tmp_path / "toy.csv", "a,colour,label\n1,red,0\n3,blue,1\n")
    with pytest.raises(UserInputError) as raised:
        load_csv(path, "label")
    assert "colour" in str(raised.value)


def test_csv_missing_value_named(tmp_path):
    path = _write(tmp_path / "toy.csv", "a,b,label\n1,,0\n3,4,1\n")
    with pytest.raises(UserInputError) as raised:
        load_csv(path, "label")
    assert ": b;" in str(raised.value)


def test_csv_single_class_rejected(tmp_path):
    path = _write(tmp_path / "toy.csv", "a,label\n1,x\n2,x\n")
    with pytest.raises(UserInputError) as raised:
        load_csv(path, "label")
    assert "single class" in str(raised.value)


def test_csv_missing_file_rejected(tmp_path):
    with pytest.raises(UserInputError) as raised:
        load_csv(tmp_path / "absent.csv", "label")
    assert "absent.csv" in str(raised.value)


def test_bench_nothing_loaded_exits_2(tmp_path, monkeypatch):
    from ml_toolkit.cli import app
    from typer.testing import CliRunner

    monkeypatch.setenv("MLTK_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLTK_DATA_DIR", raising=False)
    monkeypatch.setattr(datasets, "BANKNOTE_URL", f"http://127.0.0.1:{_closed_port()}/x.txt")
    result = CliRunner().invoke(
        app, ["boost", "bench", "--datasets", "banknote", "--models", "logreg", "--out", str(tmp_path / "run")]
    )
    assert isinstance(result.exception, UserInputError)
    assert "skipped: banknote" in str(result.exception)
    assert "MLTK_DATA_DIR" in str(result.exception)
