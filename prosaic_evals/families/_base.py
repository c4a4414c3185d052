"""What a task family provides: parameters, conditions, items and training data."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, Field

from prosaic_evals._errors import UserError
from prosaic_evals._strict import StrictModel

P = TypeVar("P", bound=StrictModel)


def _existing_file(path: Path) -> Path:
    path = path.expanduser()
    if not path.is_file():
        raise ValueError(f"file not found: {path}")
    return path


UserFile = Annotated[Path, AfterValidator(_existing_file)]
"""A parameter naming a user's data file: `~` expanded, refused at load time if absent."""


def unset() -> Any:
    """The default of a parameter added to a family later: None, and left out of the task's identity while
    unset, so tasks that do not use it keep their identity (and their finished logs)."""
    return Field(default=None, exclude_if=lambda value: value is None)


@dataclass(frozen=True)
class Item:
    """One evaluation item, before it becomes an inspect `Sample`."""

    id: str
    """Stable, content-derived id: the same content gives the same id in every run."""

    condition: str
    prompt: str
    """The user message."""

    target: str
    cluster: str
    """Items sharing a cluster (a fact, an entity) are correlated; intervals account for it."""

    metadata: dict[str, Any] = field(default_factory=dict)

    accepted: tuple[str, ...] = ()
    """Other answers that also count as correct (e.g. a parent's other children)."""

    messages: tuple[tuple[str, str], ...] = ()
    """(role, content) turns when the prompt is a conversation; `prompt` is then its last user turn."""


def content_id(*parts: str, prefix: str = "", length: int = 12) -> str:
    """A short id derived from content, stable across runs and machines."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]
    return f"{prefix}-{digest}" if prefix else digest


def check_unique_ids(items: Iterable[Item], source: str) -> None:
    """Refuse duplicate ids: paired comparisons line items up by id."""
    seen: dict[str, Item] = {}
    for item in items:
        if item.id in seen:
            raise UserError(
                f"{source}: duplicate sample id {item.id!r} "
                f"(prompt {item.prompt!r}, target {item.target!r} appears twice)"
            )
        seen[item.id] = item


class Family(ABC, Generic[P]):
    """A family of tasks from one line of research (one paper's protocol)."""

    name: ClassVar[str]
    citation: ClassVar[str]
    Parameters: ClassVar[type[StrictModel]]
    conditions: ClassVar[tuple[str, ...]]
    condition_docs: ClassVar[dict[str, str]] = {}
    """What each condition asks and why (one line each): the generated reference shows it."""

    scorers: ClassVar[frozenset[str]] = frozenset({"exact_match", "likelihood"})
    scorer_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    """Scorer settings that follow this family's paper when a task file leaves them out: scorer name ->
    {setting: value}. Applied before validation, so the task's identity records the value used."""

    @abstractmethod
    def items(self, params: P) -> list[Item]:
        """All evaluation items, for every condition, generated from `params`."""

    @abstractmethod
    def train_records(self, params: P) -> list[dict[str, Any]]:
        """Training split in chat format: `{"messages": [...], "metadata": {...}}`."""

    def distractor_pool(self, item: Item, items: Sequence[Item]) -> list[str]:
        """Other targets of the same kind that `item`'s target can be compared with (`items`: all conditions)."""
        kind = item.metadata.get("target_kind")
        pool = {
            other.target
            for other in items
            if other.condition == item.condition
            and other.metadata.get("target_kind") == kind
            and other.target != item.target
        }
        return sorted(pool)

    def conditions_for(self, params: P) -> tuple[str, ...]:
        """The conditions `params` give: the class's own, unless they come from the user's data."""
        return self.conditions

    def roles(self, conditions: tuple[str, ...]) -> dict[str, str]:
        """Model roles (besides the evaluated model) that `conditions` need: role -> why."""
        return {}

    def data_version(self) -> str:
        """Hash of the shipped data the family reads; recorded in every log."""
        return "none"

    def data_version_for(self, params: P) -> str:
        """Hash of all the data the task reads: the shipped data and any file `params` name."""
        return self.data_version()
