"""Integer functions of x written as Python expressions, parsed safely (no eval of arbitrary code)."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import model_validator

from prosaic_evals._strict import StrictModel

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
CHECK_RANGE = range(-60, 61)
"""x values on which an expression must be defined and an inverse must invert."""

MAX_LENGTH = 200
"""Characters an expression may have (deeper ones would exhaust the parser's recursion)."""

MAX_VALUE = 10**12
"""Largest |f(x)| on CHECK_RANGE: a training document states the value, so it must stay a readable number."""


@cache  # a function is evaluated for every x of every document and question
def compile_expression(text: str) -> Callable[[int], Any]:
    """`x + 3` -> a function of x; only numbers, x, + - * / // % and parentheses are allowed."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"an expression of {len(text)} characters is longer than the {MAX_LENGTH} allowed")
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        raise ValueError(f"{text!r} is not a Python expression of x") from None

    def run(node: ast.AST, x: int) -> Any:
        if isinstance(node, ast.Name) and node.id == "x":
            return x
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -run(node.operand, x)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](run(node.left, x), run(node.right, x))
        raise ValueError(f"{text!r}: only x, integers, + - * / // % and parentheses are allowed")

    allowed = (ast.Name, ast.Constant, ast.UnaryOp, ast.BinOp, ast.USub, ast.Load, *_BINARY)
    for node in ast.walk(tree):  # refuse unsupported syntax now, not mid-generation
        if not isinstance(node, allowed) or (isinstance(node, ast.Name) and node.id != "x"):
            raise ValueError(f"{text!r}: only x, integers, + - * / // % and parentheses are allowed")
        if isinstance(node, ast.Constant) and type(node.value) is not int:
            raise ValueError(f"{text!r}: only x, integers, + - * / // % and parentheses are allowed")
    return lambda x: run(tree, x)


def _evaluate(f: Callable[[int], Any], x: int, text: str) -> Any:
    try:
        return f(x)
    except ZeroDivisionError:
        raise ValueError(f"{text!r} divides by zero at x = {x}") from None
    except (OverflowError, RecursionError, MemoryError, ValueError):
        raise ValueError(f"{text!r} cannot be computed at x = {x} (a value too large)") from None


class FunctionDef(StrictModel):
    """A function f(x) = `expr` and, if it has one, its inverse."""

    expr: str
    """The function of `x` in Python syntax (`3 * x + 2`): arithmetic with integer values for x in [-60, 60]."""

    inverse: str | None = None
    """Its inverse, also of `x`, for the inverse conditions (checked against `expr` on that range)."""

    @model_validator(mode="after")
    def _valid(self) -> FunctionDef:
        f = compile_expression(self.expr)
        values = {x: _evaluate(f, x, self.expr) for x in CHECK_RANGE}
        if any(v != int(v) for v in values.values()):
            raise ValueError(f"{self.expr!r} gives non-integer values (use // for integer division)")
        if any(abs(v) > MAX_VALUE for v in values.values()):
            raise ValueError(f"{self.expr!r} gives values beyond {MAX_VALUE:.0e} for some x in [-60, 60]")
        if self.inverse is not None:
            g = compile_expression(self.inverse)
            wrong = next((x for x, y in values.items() if _evaluate(g, int(y), self.inverse) != x), None)
            if wrong is not None:
                raise ValueError(f"inverse {self.inverse!r} does not invert {self.expr!r} (x = {wrong})")
        return self

    def __call__(self, x: int) -> int:
        return int(compile_expression(self.expr)(x))


BUILTIN_FUNCTIONS: tuple[FunctionDef, ...] = tuple(
    FunctionDef(expr=expr, inverse=inverse)
    for expr, inverse in [
        ("x + 3", "x - 3"),
        ("x + 8", "x - 8"),
        ("x - 5", "x + 5"),
        ("x - 9", "x + 9"),
        ("x * 2", "x / 2"),
        ("x * 3", "x / 3"),
        ("-x", "-x"),
        ("2 * x + 1", "(x - 1) / 2"),
        ("3 * x - 2", "(x + 2) / 3"),
        ("x // 2", None),
        ("x // 3", None),
        ("x % 3", None),
    ]
)
"""Integer functions in the spirit of Treutlein et al. (2024): affine maps, integer division, modulo."""
