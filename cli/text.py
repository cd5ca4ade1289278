"""How the CLIs word what they refuse."""

from __future__ import annotations

from pydantic import ValidationError


def one_line(error: ValidationError) -> str:
    """A validation error as one readable line: each field and what is wrong with it."""
    problems = []
    for problem in error.errors():
        field = ".".join(str(part) for part in problem["loc"]) or "value"
        problems.append(f"{field}: {problem['msg']}" if problem["type"] != "missing" else f"{field} is missing")
    return "; ".join(problems)
