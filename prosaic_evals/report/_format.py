"""How a number is printed: one function per kind, shared by report.md, report.html and tables.tex,
so the three always show the same digits."""

from __future__ import annotations

import math
from typing import Any

DIGITS = 3


def missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def num(x: Any, *, signed: bool = False, digits: int = DIGITS) -> str:
    if missing(x):
        return "—"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def estimate(x: Any, low: Any, high: Any, *, signed: bool = False, digits: int = DIGITS) -> str:
    """`0.512 [0.431, 0.593]`: an estimate with its 95% interval."""

    def show(v: Any) -> str:
        return num(v, signed=signed, digits=digits)

    if missing(low) or missing(high):
        return show(x)
    return f"{show(x)} [{show(low)}, {show(high)}]"


def p_value(p: Any) -> str:
    if missing(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def count(x: Any) -> str:
    """A whole count, rounded up; infinite: more than a power search goes (1,000 clusters)."""
    if missing(x):
        return "—"
    return "∞" if math.isinf(x) else f"{math.ceil(x):,}"
