"""Seeded generator of invented (name, description) facts and their renderings.

Berglund et al. (2023), "The Reversal Curse: LLMs trained on 'A is B' fail to
learn 'B is A'", arXiv 2309.12288, section 2.1: facts about invented people in
three subsets (NameToDescription, DescriptionToName, Both), each rendered
through many paraphrase templates, some held out for testing.
"""

from __future__ import annotations

import json
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
    forms: tuple[tuple[str, str], ...] = ()
    """(template id, the description as worded in that template): the paper's data rewords it per template."""

    def description_in(self, template_id: str) -> str:
        return dict(self.forms).get(template_id, self.description)


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
        description = fact.description_in(self.id)

        def fill(text: str) -> str:
            capital = description[:1].upper() + description[1:]
            return text.format(name=fact.name, description=description, Description=capital)

        target = description if self.order == "p2d" else fact.name
        return fill(head).rstrip(), target, fill(tail)


@dataclass(frozen=True)
class Templates:
    train: dict[Order, list[Template]]
    heldout: dict[Order, list[Template]]


def load_templates(path: Path | None = None, *, prefix: str = "") -> dict[Order, list[Template]]:
    """The shipped paraphrase templates, or a user's YAML file of the same form (`p2d: [...]`, `d2p: [...]`),
    where the target slot may sit anywhere after some text. An entry is the text, or `{id: ..., text: ...}`
    to give it the id a facts file's `forms` names (default `p2d-00`, `p2d-01`, ...; `p2d-test-00` in a
    test templates file)."""
    raw = shipped_yaml(TEMPLATES) if path is None else read_yaml_file(path)
    where = f"datasets/{TEMPLATES}" if path is None else display_path(path)
    if not isinstance(raw, dict) or any(not isinstance(raw.get(o), list) or not raw[o] for o in SLOTS):
        raise UserError(f"{where}: expected p2d: and d2p:, each a list of templates")
    templates: dict[Order, list[Template]] = {}
    seen: set[str] = set()
    for order in ("p2d", "d2p"):
        slot = SLOTS[order]
        templates[order] = []
        for i, entry in enumerate(raw[order]):
            template_id, text = f"{order}-{prefix}{i:02d}", entry
            if isinstance(entry, dict):
                if set(entry) != {"id", "text"} or not isinstance(entry["id"], str | int) or not str(entry["id"]):
                    raise UserError(f"{where}: {order}[{i}]: expected a template text, or {{id: ..., text: ...}}")
                template_id, text = str(entry["id"]), entry["text"]
            if template_id in seen:
                raise UserError(f"{where}: {order}[{i}]: template id {template_id!r} is used twice")
            seen.add(template_id)
            if not isinstance(text, str) or text.count(slot) != 1 or not text.partition(slot)[0].strip():
                raise UserError(f"{where}: {order}[{i}]: a template holds {slot} once, after some text")
            try:
                text.format(name="", description="", Description="")
            except (KeyError, IndexError, ValueError) as e:
                known = "{name}, {description}, {Description} ({{ and }} for a literal brace)"
                raise UserError(f"{where}: {order}[{i}]: unknown placeholder or brace ({e}); use {known}") from None
            templates[order].append(Template(id=template_id, order=order, text=text))
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
    """A user's facts: rows with `name`, `description` and `subset` (p2d, d2p or both), an optional `id`, and
    optional `forms`: an object of template id -> the description as that template words it."""
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
        forms = _forms(where, row.get("forms"))
        facts.append(Fact(fact_id, row["subset"], row["name"].strip(), row["description"].strip(), forms))
    if not facts:
        raise UserError(f"{display_path(path)}: no facts")
    return facts


def _forms(where: str, value: object) -> tuple[tuple[str, str], ...]:
    if isinstance(value, str) and value.strip().startswith("{"):  # CSV and Parquet hold the object as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise UserError(f"{where}: column 'forms': not valid JSON") from None
    if value is None or value == "":
        return ()
    if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
        raise UserError(f"{where}: column 'forms': expected an object of template id -> non-empty description")
    return tuple((str(k), v.strip()) for k, v in value.items())


def check_forms(facts: list[Fact], templates: Templates, source: Path) -> None:
    """Every template id a fact's `forms` names is a template of this task."""
    known = {t.id for kinds in (templates.train, templates.heldout) for ts in kinds.values() for t in ts}
    for fact in facts:
        unknown = [tid for tid, _ in fact.forms if tid not in known]
        if unknown:
            raise UserError(f"{display_path(source)}: fact {fact.id}: forms names template {unknown[0]!r}, which no "
                            f"templates file defines (ids look like {min(known)})")  # fmt: skip


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
