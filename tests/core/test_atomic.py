import json
import math
import os
import stat

import pytest

from mltk_core.atomic import atomic_path, atomic_write_json, atomic_write_text
from mltk_core.plots import new_figure, save_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_text_written(tmp_path):
    target = atomic_write_text(tmp_path / "a" / "out.txt", "hello")
    assert target.read_text() == "hello"


def test_failed_write_keeps_old_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"


def test_failed_write_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "out.txt") as temporary:
        temporary.write_text("half")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_json_round_trips(tmp_path):
    target = atomic_write_json(tmp_path / "r.json", {"a": [1, 2.5]})
    assert json.loads(target.read_text()) == {"a": [1, 2.5]}


def test_unserialisable_json_creates_no_file(tmp_path):
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "r.json", {"a": math.nan})
    assert not (tmp_path / "r.json").exists()


def test_png_has_signature(tmp_path):
    figure, axes = new_figure()
    axes.plot([0, 1], [1, 0])
    target = save_png(figure, tmp_path / "plot.png")
    assert target.read_bytes()[:8] == PNG_SIGNATURE


def test_written_file_has_umask_mode(tmp_path):
    umask = os.umask(0o027)
    try:
        target = atomic_write_text(tmp_path / "out.txt", "x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
