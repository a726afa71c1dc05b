from lora_study.humaneval import load_problems, passes_tests, truncate_completion


def test_canonical_solution_passes():
    problem = load_problems(1)[0]
    assert passes_tests(problem, problem["canonical_solution"])


def test_wrong_solution_fails():
    problem = load_problems(1)[0]
    assert not passes_tests(problem, "    return not True\n")


def test_network_is_blocked():
    problem = load_problems(1)[0]
    # Passes only when opening a socket raises the guard's error.
    probe = (
        "    import socket\n"
        "    try:\n"
        "        socket.socket()\n"
        "    except OSError as error:\n"
        "        assert 'disabled' in str(error)\n"
        "    else:\n"
        "        raise AssertionError('socket opened')\n"
    )
    assert passes_tests(problem, probe + problem["canonical_solution"])


def test_endless_loop_times_out():
    problem = load_problems(1)[0]
    assert not passes_tests(problem, "    while True:\n        pass\n", timeout=1.0)


def test_truncate_stops_at_next_function():
    assert truncate_completion("    return 1\n\ndef other():\n    pass") == "    return 1\n"
