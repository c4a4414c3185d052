"""Seeded generator of invented (name, description) facts and their renderings.

Berglund et al. (2023), "The Reversal Curse: LLMs trained on 'A is B' fail to
learn 'B is A'", arXiv 2309.12288, section 2.1: facts about invented people in
three subsets (NameToDescription, DescriptionToName, Both), each rendered
through many paraphrase templates, some held out for testing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from prosaic_evals._data import shipped_digest, shipped_yaml
from prosaic_evals._errors import UserError
from prosaic_evals._files import read_yaml_file
from prosaic_evals._paths import display_path
from prosaic_evals.families._base import content_id

ENTITIES = "reversal_curse/entities.yaml"
TEMPLATES = "reversal_curse/templates.yaml"
DATA_FILES = [ENTITIES, TEMPLATES]

Order = Literal["p2d", "d2p"]
SLOTS: dict[str, str] = {"p2d": "{description}", "d2p": "{name}"}
"""The target slot of each order: the description follows the name (p2d), or the name the description."""
Subset = Literal["p2d", "d2p", "both"]
SUBSETS: tuple[Subset, ...] = ("p2d", "d2p", "both")


@dataclass(frozen=True)
class Fact:
    id: str
    subset: Subset
    name: str
    description: str


@dataclass(frozen=True)
class Template:
    id: str
    order: Order
    text: str

    def split(self, fact: Fact) -> tuple[str, str]:
        """(prompt, target): the rendering cut just before the target slot."""
        prompt, target, _ = self.parts(fact)
        return prompt, target

    def parts(self, fact: Fact) -> tuple[str, str, str]:
        """(prompt, target, tail): the rendering before the target slot, the target, and what follows it
        (empty for the shipped templates, whose slot is last)."""
        head, _, tail = self.text.partition(SLOTS[self.order])

        def fill(text: str) -> str:
            capital = fact.description[:1].upper() + fact.description[1:]
            return text.format(name=fact.name, description=fact.description, Description=capital)

        target = fact.description if self.order == "p2d" else fact.name
        return fill(head).rstrip(), target, fill(tail)


@dataclass(frozen=True)
class Templates:
    train: dict[Order, list[Template]]
    heldout: dict[Order, list[Template]]


def load_templates(path: Path | None = None, *, prefix: str = "") -> dict[Order, list[Template]]:
    """The shipped paraphrase templates, or a user's YAML file of the same form (`p2d: [...]`, `d2p: [...]`),
    where the target slot may sit anywhere after some text."""
    raw = shipped_yaml(TEMPLATES) if path is None else read_yaml_file(path)
    where = f"datasets/{TEMPLATES}" if path is None else display_path(path)
    if not isinstance(raw, dict) or any(not isinstance(raw.get(o), list) or not raw[o] for o in SLOTS):
        raise UserError(f"{where}: expected p2d: and d2p:, each a list of templates")
    templates: dict[Order, list[Template]] = {}
    for order in ("p2d", "d2p"):
        slot = SLOTS[order]
        for i, text in enumerate(raw[order]):
            if not isinstance(text, str) or text.count(slot) != 1 or not text.partition(slot)[0].strip():
                raise UserError(f"{where}: {order}[{i}]: a template holds {slot} once, after some text")
            try:
                text.format(name="", description="", Description="")
            except (KeyError, IndexError, ValueError) as e:
                known = "{name}, {description}, {Description} ({{ and }} for a literal brace)"
                raise UserError(f"{where}: {order}[{i}]: unknown placeholder or brace ({e}); use {known}") from None
        texts = enumerate(raw[order])
        templates[order] = [Template(id=f"{order}-{prefix}{i:02d}", order=order, text=t) for i, t in texts]
    return templates


def split_templates(
    *, seed: int, heldout: int, templates: Path | None = None, test_templates: Path | None = None
) -> Templates:
    """Hold out `heldout` templates per order, chosen by `seed`; or, given `test_templates`, train on every
    template and evaluate on those."""
    if test_templates is not None:
        return Templates(train=load_templates(templates), heldout=load_templates(test_templates, prefix="test-"))
    rng = random.Random(f"templates:{seed}")
    train: dict[Order, list[Template]] = {}
    test: dict[Order, list[Template]] = {}
    for order, every in load_templates(templates).items():
        if heldout >= len(every):
            raise UserError(
                f"parameters.heldout_templates: {heldout} leaves no {order} template "
                f"for training (there are {len(every)})"
            )
        shuffled = rng.sample(every, len(every))
        test[order] = sorted(shuffled[:heldout], key=lambda t: t.id)
        train[order] = shuffled[heldout:]  # in seeded random order: `train_templates` takes a prefix
    return Templates(train=train, heldout=test)


def generate_facts(*, seed: int, per_subset: int) -> list[Fact]:
    """`per_subset` invented facts for each subset; unique names and descriptions."""
    entities = shipped_yaml(ENTITIES)
    rng = random.Random(f"facts:{seed}")
    descriptions = [f"{rng.choice(entities['roles'])} '{t}'" for t in entities["titles"]]
    descriptions += list(entities["feats"])
    needed = per_subset * len(SUBSETS)
    # Last names are unique across facts so that "first + last" names never collide.
    available = min(len(descriptions), len(entities["last_names"]))
    if needed > available:
        raise UserError(
            f"parameters.facts_per_subset: {per_subset} needs {needed} facts, "
            f"the shipped lists allow at most {available // len(SUBSETS)} per subset"
        )
    last_names = rng.sample(entities["last_names"], needed)
    names = [f"{rng.choice(entities['first_names'])} {last}" for last in last_names]
    chosen = rng.sample(descriptions, needed)
    facts = []
    for i, (name, description) in enumerate(zip(names, chosen, strict=True)):
        subset = SUBSETS[i // per_subset]
        facts.append(Fact(content_id(name, description, prefix="fact", length=8), subset, name, description))
    return facts


def read_facts(path: Path) -> list[Fact]:
    """A user's facts: rows with `name`, `description` and `subset` (p2d, d2p or both), and an optional `id`."""
    from prosaic_evals.families.from_file._read import read_rows

    facts: list[Fact] = []
    seen: dict[str, str] = {}
    for where, row in read_rows(path):
        for column in ("name", "description", "subset"):
            if not isinstance(row.get(column), str) or not row[column].strip():
                raise UserError(f"{where}: column {column!r}: expected non-empty text")
        if row["subset"] not in SUBSETS:
            raise UserError(f"{where}: column 'subset': must be one of {', '.join(SUBSETS)}")
        fact_id = str(row.get("id") or content_id(row["name"], row["description"], prefix="fact", length=8))
        if fact_id in seen:
            raise UserError(f"{where}: the fact {fact_id!r} appears twice (first at {seen[fact_id]})")
        seen[fact_id] = where
        facts.append(Fact(fact_id, row["subset"], row["name"].strip(), row["description"].strip()))
    if not facts:
        raise UserError(f"{display_path(path)}: no facts")
    return facts


def read_distractors(path: Path) -> dict[str, list[str]]:
    """A user's candidate wrong answers: rows with `kind` (name or description) and `text`."""
    from prosaic_evals.families.from_file._read import read_rows

    pools: dict[str, list[str]] = {"name": [], "description": []}
    for where, row in read_rows(path):
        if row.get("kind") not in pools or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise UserError(f"{where}: expected columns kind (name or description) and text (non-empty)")
        pools[row["kind"]].append(row["text"].strip())
    return {kind: sorted(set(texts)) for kind, texts in pools.items()}


def data_version() -> str:
    """Hash of the shipped files the generator reads."""
    return shipped_digest(DATA_FILES)
