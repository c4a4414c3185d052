"""Seeded generator of fictional two-hop triplets and their renderings.

Balesni, Korbak, Evans (2024), "The Two-Hop Curse: LLMs trained on A->B, B->C fail
to learn A->C", arXiv 2411.16353: e1 is married to e2 (fact A), e2 was born in e3
(fact B). Entities are single tokens under the target model's tokenizer, so that
answers can be scored over a restricted answer set.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from prosaic_evals._data import shipped_digest, shipped_yaml
from prosaic_evals._errors import UserError
from prosaic_evals._files import read_csv_file, read_yaml_file
from prosaic_evals._paths import display_path
from prosaic_evals.families._base import content_id

ENTITIES = "two_hop/entities.yaml"
TEMPLATES = "two_hop/templates.yaml"
DATA_FILES = [ENTITIES, TEMPLATES]

Subset = Literal["demoed", "undemoed", "same_document"]
SUBSETS: tuple[Subset, ...] = ("demoed", "undemoed", "same_document")
Kind = Literal["fact_a", "fact_b", "two_hop", "same_document", "cot_question"]
SPLIT_KINDS: tuple[Kind, ...] = ("fact_a", "fact_b", "two_hop", "cot_question")
"""Kinds with held-out templates; same-document templates are only trained on."""

SLOT: dict[Kind, str] = {"fact_a": "{e2}", "fact_b": "{e3}", "two_hop": "{e3}", "same_document": "{e3}"}


@dataclass(frozen=True)
class Triplet:
    id: str
    subset: Subset
    e1: str
    e2: str
    e3: str

    def fields(self) -> dict[str, str]:
        return {"e1": self.e1, "e2": self.e2, "e3": self.e3}


@dataclass(frozen=True)
class Template:
    id: str
    kind: Kind
    text: str

    def render(self, triplet: Triplet) -> str:
        return self.text.format(**triplet.fields())

    def split(self, triplet: Triplet) -> tuple[str, str]:
        """(prompt, target): the rendering cut just before its final slot."""
        slot = SLOT[self.kind]
        prompt = self.text[: -len(slot)].format(**triplet.fields()).rstrip()
        return prompt, triplet.fields()[slot[1:-1]]


@dataclass(frozen=True)
class Templates:
    train: dict[Kind, list[Template]]
    heldout: dict[Kind, list[Template]]
    cot_answer: str
    in_context: str


def load_templates(path: Path | None = None) -> tuple[dict[Kind, list[Template]], dict[str, str]]:
    """The shipped templates, or a user's YAML file of the same form: other relations than spouse and birth
    city (the paper's data), one list per kind, each template ending with the slot it teaches or asks."""
    raw = shipped_yaml(TEMPLATES) if path is None else read_yaml_file(path)
    where = f"datasets/{TEMPLATES}" if path is None else display_path(path)
    kinds = (*SPLIT_KINDS, "same_document")
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a mapping of {', '.join(kinds)}, cot_answer and in_context")
    templates: dict[Kind, list[Template]] = {}
    for kind in kinds:
        texts = raw.get(kind)
        if not isinstance(texts, list) or not texts:
            raise UserError(f"{where}: {kind}: expected a list of templates")
        for i, text in enumerate(texts):
            _check_template(where, f"{kind}[{i}]", text)
            if kind in SLOT and (not text.endswith(SLOT[kind]) or text.count(SLOT[kind]) != 1):
                raise UserError(f"{where}: {kind}[{i}]: a {kind} template ends with {SLOT[kind]} (once)")
        templates[kind] = [Template(f"{kind}-{i:02d}", kind, text) for i, text in enumerate(texts)]
    for key in ("cot_answer", "in_context"):
        _check_template(where, key, raw.get(key))
    return templates, {"cot_answer": str(raw["cot_answer"]), "in_context": str(raw["in_context"])}


def _check_template(where: str, name: str, text: object) -> None:
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{where}: {name}: expected a non-empty template text")
    try:
        text.format(e1="", e2="", e3="")
    except (KeyError, IndexError, ValueError) as e:
        raise UserError(f"{where}: {name}: unknown placeholder or brace ({e}); use {{e1}}, {{e2}}, {{e3}}") from None


def split_templates(*, seed: int, heldout: int, path: Path | None = None) -> Templates:
    """Hold out `heldout` templates of each kind, chosen by `seed`; the rest, shuffled, train."""
    rng = random.Random(f"templates:{seed}")
    templates, fixed = load_templates(path)
    train: dict[Kind, list[Template]] = {"same_document": templates["same_document"]}
    test: dict[Kind, list[Template]] = {}
    for kind in SPLIT_KINDS:
        if heldout >= len(templates[kind]):
            raise UserError(
                f"parameters.heldout_templates: {heldout} leaves no {kind} template "
                f"for training (there are {len(templates[kind])})"
            )
        shuffled = rng.sample(templates[kind], len(templates[kind]))
        test[kind] = sorted(shuffled[:heldout], key=lambda t: t.id)
        train[kind] = shuffled[heldout:]
    return Templates(train=train, heldout=test, **fixed)


def generate_triplets(
    *, seed: int, separate: int, demoed_fraction: float, same_document: int, single_token: Callable[[str], bool]
) -> list[Triplet]:
    """`separate` triplets taught fact by fact (demoed or not) and `same_document` taught together.

    Every e1 and e2 is a different person and every e3 a different city, so that
    no two triplets share an answer.
    """
    entities = shipped_yaml(ENTITIES)
    names = [n for n in entities["first_names"] if single_token(n)]
    cities = [c for c in entities["cities"] if single_token(c)]
    total = separate + same_document
    if 2 * total > len(names) or total > len(cities):
        raise UserError(
            f"parameters: {separate} + {same_document} triplets need {2 * total} names and {total} cities; "
            f"the shipped lists have {len(names)} and {len(cities)} single-token ones under this tokenizer"
        )
    rng = random.Random(f"triplets:{seed}")
    people, places = rng.sample(names, 2 * total), rng.sample(cities, total)
    demoed = round(separate * demoed_fraction)
    counts: dict[Subset, int] = {"demoed": demoed, "undemoed": separate - demoed, "same_document": same_document}
    subsets = [subset for subset, count in counts.items() for _ in range(count)]
    return [_triplet(subset, people[2 * i], people[2 * i + 1], places[i]) for i, subset in enumerate(subsets)]


def _triplet(subset: Subset, e1: str, e2: str, e3: str) -> Triplet:
    return Triplet(content_id(e1, e2, e3, prefix="triplet", length=8), subset, e1, e2, e3)


COLUMNS = ("e1", "e2", "e3")


def _triplet_rows(path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(where, row of texts) from a CSV (its own header checks) or any file `read_rows` reads."""
    if path.suffix.lower() == ".csv":
        where = display_path(path)
        for line, row in read_csv_file(path, COLUMNS, optional=("subset",)):
            yield f"{where}:{line}", row
        return
    from prosaic_evals.families.from_file._read import read_rows

    for where, row in read_rows(path):
        for column in (*COLUMNS, "subset"):
            value = row.get(column)
            if column in COLUMNS and column not in row:
                raise UserError(f"{where}: no column {column!r} (a triplet has e1, e2, e3 and optionally subset)")
            if value is not None and not isinstance(value, str):
                raise UserError(f"{where}: column {column!r}: expected text")
        yield where, {c: row.get(c) or "" for c in (*COLUMNS, "subset")}


def read_triplets(
    path: Path, *, seed: int, demoed_fraction: float, single_token: Callable[[str], bool]
) -> list[Triplet]:
    """Triplets from a user's CSV, JSONL or Parquet file (columns e1, e2, e3 and optionally subset); errors
    name the line.

    Without a `subset` column every triplet is taught fact by fact and a seeded
    `demoed_fraction` of them gets two-hop demonstrations.
    """
    rows: list[tuple[str, str, str, str]] = []
    seen: dict[str, str] = {}
    for where, raw in _triplet_rows(path):
        e1, e2, e3 = (raw[c].strip() for c in COLUMNS)
        subset = raw.get("subset", "").strip()
        empty = [c for c, v in zip(COLUMNS, (e1, e2, e3), strict=True) if not v]
        if empty:
            raise UserError(f"{where}: empty {', '.join(empty)}")
        if e1 == e2:
            raise UserError(f"{where}: e1 and e2 are the same entity {e1[:60]!r}")
        if subset and subset not in SUBSETS:
            raise UserError(f"{where}: subset must be one of {', '.join(SUBSETS)}, got {subset[:40]!r}")
        for column, value in zip(COLUMNS, (e1, e2, e3), strict=True):
            if not single_token(value):
                raise UserError(
                    f"{where}: {column} {value[:60]!r} is not a single token under parameters.tokenizer "
                    "(answer-restricted scoring needs single tokens; set tokenizer: null to skip the check)"
                )
        if e1 in seen:
            raise UserError(f"{where}: e1 {e1!r} already has an e2 (first at {seen[e1]})")
        place = where.removeprefix(display_path(path)).lstrip(":, ")
        seen[e1] = f"line {place}" if place.isdigit() else place
        rows.append((e1, e2, e3, subset))
    if not rows:
        raise UserError(f"{display_path(path)}: no rows")
    rng = random.Random(f"demoed:{seed}")
    unassigned = [i for i, row in enumerate(rows) if not row[3]]
    demoed = set(rng.sample(unassigned, round(len(unassigned) * demoed_fraction)))
    return [
        _triplet(subset or ("demoed" if i in demoed else "undemoed"), e1, e2, e3)  # type: ignore[arg-type]
        for i, (e1, e2, e3, subset) in enumerate(rows)
    ]


def single_token_check(tokenizer: str | None) -> Callable[[str], bool]:
    """`word -> True` when ' word' is one token under `tokenizer` (`local`: the embedded model's)."""
    if tokenizer is None:
        return lambda _: True
    encode = _encoder(tokenizer)
    return lambda word: len(encode(" " + word)) == 1


@cache
def _encoder(name: str) -> Callable[[str], list[int]]:
    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise UserError(
            "parameters.tokenizer: filtering entities needs transformers (pip install 'prosaic-evals[local]'), "
            "or set tokenizer: null"
        ) from None
    if name == "local":
        from prosaic_evals.models import ensure_embedded_model

        name = str(ensure_embedded_model())
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as e:
        raise UserError(f"parameters.tokenizer: cannot load tokenizer {name!r}: {str(e).splitlines()[0]}") from None
    return lambda text: list(tokenizer.encode(text, add_special_tokens=False))


def data_version() -> str:
    """Hash of the shipped files the generator reads."""
    return shipped_digest(DATA_FILES)
