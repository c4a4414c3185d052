"""Task families: one per line of research, each following its paper's protocol."""

from prosaic_evals._errors import UserError
from prosaic_evals.families._base import Family, Item, check_unique_ids, content_id
from prosaic_evals.families.cot_faithfulness import CotFaithfulness
from prosaic_evals.families.out_of_context import Declarative, Inductive
from prosaic_evals.families.reversal_curse import CelebrityParents, ReversalCurse
from prosaic_evals.families.two_hop import TwoHop

_ALL = (ReversalCurse, CelebrityParents, TwoHop, Declarative, Inductive, CotFaithfulness)
FAMILIES: dict[str, type[Family]] = {family.name: family for family in _ALL}  # type: ignore[type-arg]


def get_family(name: str) -> Family:  # type: ignore[type-arg]
    """The family registered under `name`."""
    try:
        return FAMILIES[name]()
    except KeyError:
        raise UserError(f"unknown family {name!r} (known: {', '.join(sorted(FAMILIES))})") from None


__all__ = ["FAMILIES", "Family", "Item", "check_unique_ids", "content_id", "get_family"]
