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


@cache  # a function is evaluated for every x of every document and question
def compile_expression(text: str) -> Callable[[int], Any]:
    """`x + 3` -> a function of x; only numbers, x, + - * / // % and parentheses are allowed."""
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise ValueError(f"{text!r} is not a Python expression") from None

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

    run(tree, 1)  # refuse unsupported syntax now, not mid-generation
    return lambda x: run(tree, x)


class FunctionDef(StrictModel):
    """A function f(x) = `expr` and, if it has one, its inverse."""

    expr: str
    inverse: str | None = None

    @model_validator(mode="after")
    def _valid(self) -> FunctionDef:
        f = compile_expression(self.expr)
        try:
            values = {x: f(x) for x in CHECK_RANGE}
        except ZeroDivisionError:
            raise ValueError(f"{self.expr!r} divides by zero for some x in [-60, 60]") from None
        if any(v != int(v) for v in values.values()):
            raise ValueError(f"{self.expr!r} gives non-integer values (use // for integer division)")
        if self.inverse is not None:
            g = compile_expression(self.inverse)
            wrong = next((x for x, y in values.items() if g(int(y)) != x), None)
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
