"""Task families: one per line of research, each following its paper's protocol."""

from prosaic_evals._errors import UserError
from prosaic_evals.families._base import Family, Item, check_unique_ids, content_id
from prosaic_evals.families.out_of_context import Declarative, Inductive
from prosaic_evals.families.reversal_curse import CelebrityParents, ReversalCurse
from prosaic_evals.families.two_hop import TwoHop

FAMILIES: dict[str, type[Family]] = {  # type: ignore[type-arg]
    family.name: family for family in (ReversalCurse, CelebrityParents, TwoHop, Declarative, Inductive)
}


def get_family(name: str) -> Family:  # type: ignore[type-arg]
    """The family registered under `name`."""
    try:
        return FAMILIES[name]()
    except KeyError:
        raise UserError(f"unknown family {name!r} (known: {', '.join(sorted(FAMILIES))})") from None


__all__ = ["FAMILIES", "Family", "Item", "check_unique_ids", "content_id", "get_family"]
