from mltk_core.progress import make_progress, progress_enabled


def test_json_mode_disables_progress():
    assert progress_enabled(json_mode=True) is False


def test_non_terminal_disables_progress(capsys):
    # pytest captures stderr, so it is not a terminal here.
    assert progress_enabled() is False


def test_disabled_progress_writes_nothing(capsys):
    with make_progress(json_mode=True) as progress:
        task = progress.add_task("work", total=3)
        for _ in range(3):
            progress.advance(task)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ""
