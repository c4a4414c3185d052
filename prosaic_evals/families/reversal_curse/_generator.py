"""Seeded generator of invented (name, description) facts and their renderings.

Berglund et al. (2023), "The Reversal Curse: LLMs trained on 'A is B' fail to
learn 'B is A'", arXiv 2309.12288, section 2.1: facts about invented people in
three subsets (NameToDescription, DescriptionToName, Both), each rendered
through many paraphrase templates, some held out for testing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from prosaic_evals._data import shipped_digest, shipped_yaml
from prosaic_evals._errors import UserError
from prosaic_evals.families._base import content_id

ENTITIES = "reversal_curse/entities.yaml"
TEMPLATES = "reversal_curse/templates.yaml"
DATA_FILES = [ENTITIES, TEMPLATES]

Order = Literal["p2d", "d2p"]
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
        slot = "{description}" if self.order == "p2d" else "{name}"
        head = self.text[: -len(slot)]
        prompt = head.format(
            name=fact.name,
            description=fact.description,
            Description=fact.description[:1].upper() + fact.description[1:],
        ).rstrip()
        target = fact.description if self.order == "p2d" else fact.name
        return prompt, target


@dataclass(frozen=True)
class Templates:
    train: dict[Order, list[Template]]
    heldout: dict[Order, list[Template]]


def load_templates() -> dict[Order, list[Template]]:
    raw = shipped_yaml(TEMPLATES)
    templates: dict[Order, list[Template]] = {}
    for order in ("p2d", "d2p"):
        slot = "{description}" if order == "p2d" else "{name}"
        texts = raw[order]
        for text in texts:
            if not text.endswith(slot) or text.count(slot) != 1:
                raise UserError(f"datasets/{TEMPLATES}: {order} template {text!r} must end with {slot}")
        templates[order] = [Template(id=f"{order}-{i:02d}", order=order, text=t) for i, t in enumerate(texts)]
    return templates


def split_templates(*, seed: int, heldout: int) -> Templates:
    """Hold out `heldout` templates per order, chosen by `seed`."""
    rng = random.Random(f"templates:{seed}")
    train: dict[Order, list[Template]] = {}
    test: dict[Order, list[Template]] = {}
    for order, templates in load_templates().items():
        if heldout >= len(templates):
            raise UserError(
                f"parameters.heldout_templates: {heldout} leaves no {order} template "
                f"for training (there are {len(templates)})"
            )
        shuffled = rng.sample(templates, len(templates))
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


def data_version() -> str:
    """Hash of the shipped files the generator reads."""
    return shipped_digest(DATA_FILES)
