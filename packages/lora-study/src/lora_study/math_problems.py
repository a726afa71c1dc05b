"""The math target domain: arithmetic word problems generated with exact answers.

Each problem is one operation (addition, subtraction or multiplication) on
small whole numbers, written in one of several sentence templates. The
solution states the equation, so a greedy answer is scored by the last integer
it contains.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

NAMES = ("Ada", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lena")
ITEMS = ("apples", "books", "coins", "marbles", "pencils", "stamps", "shells", "cards")

# (template, operator) pairs; {a} and {b} are the operands in the stated order.
TEMPLATES = (
    ("{name} has {a} {item} and finds {b} more. How many {item} does {name} have now?", "+"),
    ("A box holds {a} {item}. {name} puts in {b} more. How many {item} are in the box?", "+"),
    ("{name} had {a} {item} and gave away {b}. How many {item} are left?", "-"),
    ("There are {a} {item} on a shelf. {name} takes {b}. How many {item} stay on the shelf?", "-"),
    ("{name} buys {a} bags with {b} {item} in each. How many {item} does {name} buy?", "*"),
    ("Each of {a} friends gives {name} {b} {item}. How many {item} does {name} get?", "*"),
)

PROMPT_FORMAT = "Question: {question}\nAnswer:"


@dataclass(frozen=True)
class MathProblem:
    question: str
    solution: str
    answer: int

    @property
    def prompt(self) -> str:
        return PROMPT_FORMAT.format(question=self.question)

    @property
    def response(self) -> str:
        return f" {self.solution}"


def generate_problems(count: int, seed: int, max_operand: int = 20) -> list[MathProblem]:
    """Generate ``count`` distinct problems with a seeded generator."""
    rng = random.Random(seed)
    problems: dict[str, MathProblem] = {}
    capacity = len(TEMPLATES) * len(NAMES) * len(ITEMS) * (max_operand + 1) ** 2
    if count > capacity // 2:
        raise ValueError(
            f"cannot generate {count} distinct problems with operands up to {max_operand}"
        )
    while len(problems) < count:
        problem = _one_problem(rng, max_operand)
        problems.setdefault(problem.question, problem)
    return list(problems.values())


def split_problems(
    train_count: int, held_out_count: int, seed: int, max_operand: int = 20
) -> tuple[list[MathProblem], list[MathProblem]]:
    """Generate disjoint training and held-out problems: no question appears in both."""
    problems = generate_problems(train_count + held_out_count, seed, max_operand)
    return problems[:train_count], problems[train_count:]


def _one_problem(rng: random.Random, max_operand: int) -> MathProblem:
    template, operator = rng.choice(TEMPLATES)
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
    if operator == "-" and b > a:
        a, b = b, a
    if operator == "*":
        a, b = a % 10 + 1, b % 10
    answer = {"+": a + b, "-": a - b, "*": a * b}[operator]
    question = template.format(name=name, item=item, a=a, b=b)
    solution = f"{a} {operator} {b} = {answer}."
    return MathProblem(question, solution, answer)


def parse_answer(generated: str) -> int | None:
    """Return the last integer on the first line of ``generated``, or None."""
    first_line = generated.strip().split("\n", 1)[0]
    numbers = re.findall(r"-?\d+", first_line)
    return int(numbers[-1]) if numbers else None
