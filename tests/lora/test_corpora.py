import pytest
from lora_study.code_corpus import documented_functions, load_code_corpus
from lora_study.math_problems import generate_problems, parse_answer, split_problems
from lora_study.prose_corpus import load_prose_corpus
from mltk_core.errors import UserInputError


def test_pydoc_corpus_splits_by_topic():
    corpus = load_prose_corpus()
    assert corpus.name == "pydoc_data.topics"
    assert len(corpus.held_out_documents) >= 5
    assert not set(corpus.train_documents) & set(corpus.held_out_documents)
    assert len(corpus.train_text) > 300_000


def test_file_corpus_joins_paragraphs(tmp_path):
    path = tmp_path / "book.txt"
    path.write_text("\n\n".join(f"Paragraph {i} " + "word " * 100 for i in range(60)))
    corpus = load_prose_corpus(path)
    documents = corpus.train_documents + corpus.held_out_documents
    assert sum(document.count("Paragraph") for document in documents) == 60
    assert min(len(document) for document in documents) >= 2000
    assert corpus.held_out_documents


def test_missing_corpus_is_user_error(tmp_path):
    with pytest.raises(UserInputError, match="is not a file"):
        load_prose_corpus(tmp_path / "absent.txt")


def test_math_answers_are_exact():
    for problem in generate_problems(300, seed=1):
        left, right = problem.solution.rstrip(".").split(" = ")
        a, operator, b = left.split(" ")
        expected = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[operator]
        assert problem.answer == expected, problem
        assert problem.answer >= 0, problem


def test_math_split_is_disjoint():
    train, held_out = split_problems(500, 100, seed=3)
    assert len(held_out) == 100
    assert not {p.question for p in train} & {p.question for p in held_out}


def test_math_generation_is_seeded():
    assert generate_problems(20, seed=5) == generate_problems(20, seed=5)
    assert generate_problems(20, seed=5) != generate_problems(20, seed=6)


@pytest.mark.parametrize(
    ("text", "answer"),
    [(" 3 + 4 = 7.", 7), (" 10 - 2 = 8.\nQuestion: 5", 8), (" none", None), ("= -3", -3)],
)
def test_parse_answer_reads_last_integer(text, answer):
    assert parse_answer(text) == answer


def test_documented_function_splits_at_docstring():
    source = (
        "class A:\n"
        "    def f(self, x):\n"
        '        """Double x."""\n'
        "        y = x * 2\n"
        "        return y\n"
        "def g():\n"
        '    """Only a docstring."""\n'
    )
    functions = documented_functions(source)
    assert len(functions) == 1
    assert functions[0].prompt == 'def f(self, x):\n    """Double x."""\n'
    assert functions[0].response == "    y = x * 2\n    return y\n"


def test_code_corpus_holds_out_whole_files():
    corpus = load_code_corpus(200_000)
    assert corpus.held_out_files
    assert not set(corpus.train_files) & set(corpus.held_out_files)
