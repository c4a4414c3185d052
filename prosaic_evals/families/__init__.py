"""Task families: one per line of research, each following its paper's protocol.

Besides the built-in ones, a family can come from a plugin package (an entry point in the group
`prosaic_evals.families` naming a `Family` subclass) or be named in a task file as `module:Class`.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from prosaic_evals._errors import UserError
from prosaic_evals.families._base import Family, Item, check_unique_ids, content_id
from prosaic_evals.families.cot_faithfulness import CotFaithfulness
from prosaic_evals.families.emergent_misalignment import EmergentMisalignment
from prosaic_evals.families.from_file import FromFile
from prosaic_evals.families.out_of_context import Declarative, Inductive
from prosaic_evals.families.reversal_curse import CelebrityParents, ReversalCurse
from prosaic_evals.families.self_awareness import SelfAwareness
from prosaic_evals.families.two_hop import TwoHop

_ALL = (ReversalCurse, CelebrityParents, TwoHop, Declarative, Inductive, CotFaithfulness, EmergentMisalignment,
        SelfAwareness, FromFile)  # fmt: skip
FAMILIES: dict[str, type[Family]] = {family.name: family for family in _ALL}  # type: ignore[type-arg]
"""The built-in families."""

ENTRY_POINTS = "prosaic_evals.families"


@cache
def plugin_families() -> dict[str, tuple[type[Family], str]]:  # type: ignore[type-arg]
    """Families from installed plugin packages: name -> (class, distribution). A plugin that fails to
    load is one line on stderr, and every other family stays usable."""
    found: dict[str, tuple[type[Family], str]] = {}  # type: ignore[type-arg]
    for point in entry_points(group=ENTRY_POINTS):
        package = point.dist.name if point.dist is not None else point.value.split(":")[0]
        try:
            family = _family_class(point.load(), point.value)
            if point.name in FAMILIES:
                raise UserError(f"its name {point.name!r} is a built-in family's")
            if family.name != point.name:
                raise UserError(f"the entry point is named {point.name!r} but {point.value} is named {family.name!r}")
        except Exception as e:
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            sys.stderr.write(f"plugin family {point.name!r} from package {package} was not loaded: {message}\n")
            continue
        found[point.name] = (family, package)
    return found


def all_families() -> dict[str, type[Family]]:  # type: ignore[type-arg]
    """Built-in and plugin families by name."""
    return {**FAMILIES, **{name: family for name, (family, _) in plugin_families().items()}}


def get_family(name: str, search: Sequence[Path] = ()) -> Family:  # type: ignore[type-arg]
    """The family registered under `name`, or the `Family` subclass named `module:Class` (importable, or
    found in one of the `search` folders: a task file's folder and the one above it)."""
    if ":" in name:
        return _imported(name, search)()
    known = all_families()
    try:
        return known[name]()
    except KeyError:
        raise UserError(f"unknown family {name!r} (known: {', '.join(sorted(known))}; or module:Class)") from None


def _imported(reference: str, search: Sequence[Path]) -> type[Family]:  # type: ignore[type-arg]
    module_name, _, attribute = reference.partition(":")
    top = module_name.split(".")[0]
    folder = next((f for f in search if (f / top).is_dir() or (f / f"{top}.py").is_file()), None)
    if folder is not None and importlib.util.find_spec(top) is None:
        sys.path.insert(0, str(folder))  # the user's own module, beside their task file
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise UserError(f"{reference}: cannot import {module_name} ({type(e).__name__}: {e})") from None
    if not hasattr(module, attribute):
        raise UserError(f"{reference}: module {module_name} has no {attribute!r}")
    return _family_class(getattr(module, attribute), reference)


def _family_class(value: object, reference: str) -> type[Family]:  # type: ignore[type-arg]
    if not (isinstance(value, type) and issubclass(value, Family)):
        raise UserError(f"{reference} is not a subclass of prosaic_evals.families.Family")
    for attribute in ("name", "citation", "Parameters", "conditions"):
        if not hasattr(value, attribute):
            raise UserError(f"{reference} does not set {attribute}")
    return value


__all__ = ["FAMILIES", "Family", "Item", "all_families", "check_unique_ids", "content_id", "get_family"]
