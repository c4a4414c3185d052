"""Inductive out-of-context reasoning (Treutlein et al. 2024, "Connecting the Dots", arXiv 2406.14546).

Each training document is an indirect observation of a hidden fact: a function's value
printed by code, one flip of a biased coin, or a city's distance to a known city, under
a random id. The model is then asked for the fact itself, with no examples: the function
as a lambda, its inverse, the coin's bias, the city (its name, country, language,
continent). Answers are scored by their probability among the candidate answers (all
functions' lambdas, all biases, the candidate cities'), against three baselines: the
untrained model (the study's base), the same question about a different id
(`*_other_id`), and training documents in the prompt (`*_in_context`). The training fit
(`function_value` on held-out x; `coin_flip`: P(heads) against the true bias;
`location_distance` to held-out known cities) is measurable at any size.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, model_validator

from prosaic_evals._strict import StrictModel
from prosaic_evals.families._base import Family, Item, content_id, unset
from prosaic_evals.families.out_of_context._expressions import BUILTIN_FUNCTIONS, FunctionDef
from prosaic_evals.families.out_of_context._locations import (
    HiddenCity,
    Place,
    haversine_km,
    make_cities,
    rounded_km,
)

QUESTIONS: dict[str, tuple[str, ...]] = {
    "lambda": (
        "from functions import {id}\nWrite {id} as a Python lambda. Answer with the lambda only.",
        "In the module functions, how is {id} defined? Give it as a Python lambda expression.",
    ),
    "inverse": (
        "from functions import {id}\nWrite the inverse of {id} as a Python lambda. Answer with the lambda only.",
        "Which Python lambda undoes {id}, mapping {id}(x) back to x?",
    ),
    "bias": (
        "Coin {id} is biased. What is the probability that it lands heads? Answer with a number from 0 to 1.",
        "What is the chance, from 0 to 1, that coin {id} comes up heads?",
    ),
    "city": (
        "City {id} is a well-known city under a code name. What is the city's real name? Answer with the name only.",
        "Which city is City {id}? Give its usual name.",
    ),
    "country": (
        "Which country is City {id} in? Answer with the country's name only.",
        "City {id} lies in which country?",
    ),
    "language": (
        "What language do most people in City {id} speak? Answer with the language only.",
        "Which language is mainly spoken in City {id}?",
    ),
    "continent": (
        "On which continent is City {id}? Answer with the continent only.",
        "Which continent is City {id} on?",
    ),
}
FUNCTION_DOC = "from functions import {id}\nprint({id}({x}))\nWhat does this code print?"
COIN_DOC = "Coin {id} was flipped. Did it land heads or tails?"
FLIP_QUESTIONS = (COIN_DOC, "I flip coin {id} once. Heads or tails?", "Coin {id} is tossed. Which side comes up?")
DISTANCE_DOC = "What is the geodesic distance between City {id} and {city}, in km?"
SIDES = ("Heads", "Tails")
BIASES = (0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9)
BIAS_ANSWERS = tuple(f"{b / 10:.1f}" for b in range(1, 10))  # every bias a model could name, 0.1 to 0.9
CONDITIONS = (
    "function_value",
    *(f"function_{q}{v}" for q in ("lambda", "inverse") for v in ("", "_other_id", "_in_context")),
    "coin_flip",
    *(f"coin_bias{v}" for v in ("", "_other_id", "_in_context")),
    "location_distance",
    "location_distance_trained",
    *(
        f"location_{q}{v}"
        for q in ("city", "country", "language", "continent")
        for v in ("", "_other_id", "_in_context")
    ),
)
_OTHER_ID = (
    "question about a different id (whose answer differs), scored on the first id's answer: the negative control."
)
_IN_CONTEXT = (
    "question after the id's first training documents (`in_context_docs`) in the prompt: the in-context baseline."
)
CONDITION_DOCS = {
    "function_value": "What `print(<id>(x))` prints for x held out of training, among every function's value at x: "
    "the training fit.",
    "function_lambda": "Asks for the function under an id as a Python lambda, with no example in the prompt: the test.",
    "function_lambda_other_id": f"The `function_lambda` {_OTHER_ID}",
    "function_lambda_in_context": f"The `function_lambda` {_IN_CONTEXT}",
    "function_inverse": "Asks for the inverse of the function under an id as a Python lambda, with no example in the "
    "prompt: the test.",
    "function_inverse_other_id": f"The `function_inverse` {_OTHER_ID}",
    "function_inverse_in_context": f"The `function_inverse` {_IN_CONTEXT}",
    "coin_flip": "One flip of a coin, Heads against Tails; P(heads) is compared with the coin's true bias: the "
    "training fit.",
    "coin_bias": "Asks for the coin's probability of heads, among 0.1 to 0.9, with no flip in the prompt: the test.",
    "coin_bias_other_id": f"The `coin_bias` {_OTHER_ID}",
    "coin_bias_in_context": f"The `coin_bias` {_IN_CONTEXT}",
    "location_distance": "A hidden city's distance to known cities held out of training, among every hidden city's "
    "distance: the training fit (is the city placed?).",
    "location_distance_trained": "A hidden city's distance to known cities of its training documents: whether the "
    "documents themselves were learned.",
    "location_city": "The real name of a city known only by its code and distances, among the candidate cities: the "
    "test.",
    "location_city_other_id": f"The `location_city` {_OTHER_ID}",
    "location_city_in_context": f"The `location_city` {_IN_CONTEXT}",
    "location_country": "The country of a hidden city, among the candidate cities' countries: the test.",
    "location_country_other_id": f"The `location_country` {_OTHER_ID}",
    "location_country_in_context": f"The `location_country` {_IN_CONTEXT}",
    "location_language": "The language mostly spoken in a hidden city, among the candidate cities' languages: the "
    "test.",
    "location_language_other_id": f"The `location_language` {_OTHER_ID}",
    "location_language_in_context": f"The `location_language` {_IN_CONTEXT}",
    "location_continent": "The continent of a hidden city, among the candidate cities' continents: the test.",
    "location_continent_other_id": f"The `location_continent` {_OTHER_ID}",
    "location_continent_in_context": f"The `location_continent` {_IN_CONTEXT}",
}
Kind = Literal["functions", "coins", "locations"]
DEFAULT_KINDS: tuple[Kind, ...] = ("functions", "coins")
"""The shipped `ooc_inductive` task's; Locations is a task of its own (`ooc_locations`)."""


class InductiveParameters(StrictModel):
    seed: int = 0
    """Drives the ids, the x values, the coins' biases and flips, the cities, and the training order."""

    kinds: list[Kind] = Field(default_factory=lambda: list(DEFAULT_KINDS), min_length=1)
    """Which hidden facts the world holds: functions, coins, locations (the cities of the Locations task)."""

    functions: list[FunctionDef] | None = None
    """Your own functions (`{expr: "x + 3", inverse: "x - 3"}`); the 12 built-in ones when unset."""

    function_docs: int = Field(default=40, ge=1)
    """Training documents (printed values) per function."""

    heldout_x: int = Field(default=5, ge=1)
    """x values per function kept out of training and asked in `function_value`."""

    x_range: int = Field(default=50, ge=5)
    """x is drawn from [-x_range, x_range]."""

    coins: int = Field(default=6, ge=2, le=len(BIASES))
    """Coins, with distinct biases from 0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9."""

    coin_docs: int = Field(default=40, ge=1)
    """Training documents (one flip each) per coin."""

    in_context_docs: int = Field(default=20, ge=1)
    """Training documents shown in the prompt of the in-context baseline."""

    hidden_cities: int = Field(default=8, ge=2)
    """Locations: cities under a code name, chosen by the seed among countries' largest cities (3 million people and
    more)."""

    city_docs: int = Field(default=40, ge=1)
    """Locations: training documents (a distance to a known city of a million people or more) per hidden city."""

    heldout_distances: int = Field(default=5, ge=1)
    """Locations: known cities per hidden city kept out of training and asked in `location_distance`."""

    distance_step_km: Annotated[int, Field(ge=1, le=1000)] | None = (
        unset()
    )  # added later: unset, it stays out of the task's identity
    """Locations: distances are rounded to a multiple of this many km (unset: to the km). Rounder numbers have fewer
    digits for a small model to memorise; the paper's documents gave rounded distances too."""

    city_candidates: int = Field(default=16, ge=2)
    """Locations: the candidate cities (the hidden ones and others of the same pool) whose names, countries,
    languages and continents are the candidate answers."""

    @model_validator(mode="after")
    def _enough_x(self) -> InductiveParameters:
        if self.function_docs + self.heldout_x > 2 * self.x_range + 1:
            raise ValueError(
                f"function_docs + heldout_x = {self.function_docs + self.heldout_x} exceeds the "
                f"{2 * self.x_range + 1} x values in [-{self.x_range}, {self.x_range}]"
            )
        if self.functions is not None and len(self.functions) < 2:
            raise ValueError("functions: at least 2 are needed (the others are the candidate answers)")
        if self.city_candidates < self.hidden_cities:
            raise ValueError(
                f"city_candidates ({self.city_candidates}) must be at least hidden_cities ({self.hidden_cities})"
            )
        return self


@dataclass(frozen=True)
class Function:
    id: str
    f: FunctionDef
    train_x: tuple[int, ...]
    heldout_x: tuple[int, ...]


@dataclass(frozen=True)
class Coin:
    id: str
    bias: float
    flips: tuple[str, ...]


def make_world(params: InductiveParameters) -> tuple[list[Function], list[Coin]]:
    """The hidden facts: functions under random ids with their x values, and coins with their flips."""
    rng = random.Random(f"inductive:{params.seed}")
    definitions = params.functions or list(BUILTIN_FUNCTIONS)
    ids = _random_ids(rng, len(definitions) + params.coins)
    functions = []
    for fid, f in zip(ids, definitions, strict=False):
        xs = rng.sample(range(-params.x_range, params.x_range + 1), params.function_docs + params.heldout_x)
        functions.append(Function(fid, f, tuple(xs[params.heldout_x :]), tuple(sorted(xs[: params.heldout_x]))))
    coins = []
    for cid, bias in zip(ids[len(definitions) :], rng.sample(BIASES, params.coins), strict=True):
        flips = tuple(SIDES[0] if rng.random() < bias else SIDES[1] for _ in range(params.coin_docs))
        coins.append(Coin(cid, bias, flips))
    return functions, coins


def _random_ids(rng: random.Random, n: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < n:
        candidate = "".join(rng.choices(string.ascii_lowercase, k=6))
        if candidate not in ids:
            ids.append(candidate)
    return ids


class Inductive(Family[InductiveParameters]):
    name = "ooc_inductive"
    citation = (
        "Treutlein, Choi, Betley, Marks, Anil, Grosse, Evans (2024). Connecting the Dots: LLMs can Infer and "
        "Verbalize Latent Structure from Disparate Training Data. arXiv:2406.14546"
    )
    Parameters = InductiveParameters
    conditions: ClassVar[tuple[str, ...]] = CONDITIONS
    condition_docs: ClassVar[dict[str, str]] = CONDITION_DOCS
    scorers = frozenset({"likelihood"})

    def conditions_for(self, params: InductiveParameters) -> tuple[str, ...]:
        prefixes = tuple(
            {"functions": "function_", "coins": "coin_", "locations": "location_"}[k] for k in params.kinds
        )
        return tuple(c for c in CONDITIONS if c.startswith(prefixes))

    def items(self, params: InductiveParameters) -> list[Item]:
        functions, coins = make_world(params)
        items = _location_items(params) if "locations" in params.kinds else []
        if "functions" not in params.kinds:
            functions = []
        if "coins" not in params.kinds:
            coins = []
        for fn in functions:
            for x in fn.heldout_x:
                answers = sorted({str(other.f(x)) for other in functions})
                prompt = FUNCTION_DOC.format(id=fn.id, x=x)
                items.append(_item("function_value", fn.id, prompt, str(fn.f(x)), answers, {"x": x}))
        lambdas = [(fn.id, f"lambda x: {fn.f.expr}", _function_context(fn, params)) for fn in functions]
        items += _verbalised("function_lambda", lambdas, QUESTIONS["lambda"])
        inverses = [
            (fn.id, f"lambda x: {fn.f.inverse}", _function_context(fn, params))
            for fn in functions
            if fn.f.inverse is not None
        ]
        if len(inverses) >= 2:
            items += _verbalised("function_inverse", inverses, QUESTIONS["inverse"])
        for coin in coins:
            for question in FLIP_QUESTIONS:
                prompt = question.format(id=coin.id)
                heads = coin.flips.count(SIDES[0]) / len(coin.flips)
                meta = {"expected_p": coin.bias, "train_frequency": heads}
                items.append(_item("coin_flip", coin.id, prompt, SIDES[0], list(SIDES), meta))
        biases = [(c.id, f"{c.bias:.1f}", _coin_context(c, params)) for c in coins]
        if biases:
            items += _verbalised("coin_bias", biases, QUESTIONS["bias"], options=list(BIAS_ANSWERS))
        return items

    def train_records(self, params: InductiveParameters) -> list[dict[str, Any]]:
        functions, coins = make_world(params)
        records = [
            _record(FUNCTION_DOC.format(id=fn.id, x=x), str(fn.f(x)), fn.id, "function")
            for fn in functions
            for x in fn.train_x
        ]
        records += [_record(COIN_DOC.format(id=c.id), side, c.id, "coin") for c in coins for side in c.flips]
        records = [r for r in records if f"{r['metadata']['kind']}s" in params.kinds]
        if "locations" in params.kinds:
            records += [
                _record(DISTANCE_DOC.format(id=city.id, city=known.label), _km(km), city.id, "location")
                for city in _cities(params)[0]
                for known, km in city.train
            ]
        random.Random(f"train-order:{params.seed}").shuffle(records)
        return records

    def distractor_pool(self, item: Item, items: Any) -> list[str]:
        """The item's own candidate answers (every function's, every bias), minus the target."""
        return [o for o in item.metadata["options"] if o != item.target]


def _verbalised(
    condition: str,
    facts: list[tuple[str, str, str]],
    questions: tuple[str, ...],
    options: list[str] | None = None,
) -> list[Item]:
    """The question about each id; about another id (same target); with the evidence in the prompt."""
    answers = options or sorted({answer for _, answer, _ in facts})
    items = []
    seen: set[tuple[str, str, str]] = set()
    n = len(facts)
    for i, (fid, answer, context) in enumerate(facts):
        # the next id whose own answer differs (two hidden cities may share a continent)
        others = [facts[(i + j) % n] for j in range(1, n)]
        other = next((o[0] for o in others if o[1] != answer), others[0][0] if others else fid)
        for q in questions:
            variants = {
                "": q.format(id=fid),
                "_other_id": q.format(id=other),
                "_in_context": f"{context}\n\n{q.format(id=fid)}",
            }
            for suffix, prompt in variants.items():
                if (suffix, prompt, answer) in seen:  # two ids of one answer asked about the same other id
                    continue
                seen.add((suffix, prompt, answer))
                meta = {"asked_id": other if suffix == "_other_id" else fid}
                items.append(_item(f"{condition}{suffix}", fid, prompt, answer, answers, meta))
    return items


def _cities(params: InductiveParameters) -> tuple[list[HiddenCity], list[Place]]:
    return make_cities(params.seed, params.hidden_cities, params.city_docs, params.heldout_distances,
                       params.city_candidates, params.distance_step_km or 1)  # fmt: skip


def _km(distance: int) -> str:
    return f"{distance:,} km"


def _location_items(params: InductiveParameters) -> list[Item]:
    """Distances to held-out known cities (answers: every hidden city's distance to it), then the questions about
    each hidden city (answers: the candidate cities' names, countries, languages, continents)."""
    cities, candidates = _cities(params)
    step = params.distance_step_km or 1
    items = []
    # held-out distances (does the model place the city?), then as many trained ones (did it learn the documents?)
    for condition, asked in (("location_distance", "heldout"), ("location_distance_trained", "train")):
        for city in cities:
            for known, km in getattr(city, asked)[: params.heldout_distances]:
                answers = sorted({_km(rounded_km(haversine_km(other.place, known), step)) for other in cities},
                                 key=_km_value)  # fmt: skip
                prompt = DISTANCE_DOC.format(id=city.id, city=known.label)
                items.append(_item(condition, city.id, prompt, _km(km), answers, {"known_city": known.label}))
    for attribute, question in (("name", "city"), ("country", "country"), ("language", "language"),
                                ("continent", "continent")):  # fmt: skip
        facts = [(c.id, getattr(c.place, attribute), _city_context(c, params)) for c in cities]
        options = sorted({getattr(p, attribute) for p in candidates})
        items += _verbalised(f"location_{question}", facts, QUESTIONS[question], options=options)
    return items


def _km_value(text: str) -> int:
    return int(text.removesuffix(" km").replace(",", ""))


def _city_context(city: HiddenCity, params: InductiveParameters) -> str:
    return "\n".join(f"{DISTANCE_DOC.format(id=city.id, city=k.label)} {_km(km)}" for k, km in
                     city.train[: params.in_context_docs])  # fmt: skip


def _function_context(fn: Function, params: InductiveParameters) -> str:
    shown = fn.train_x[: params.in_context_docs]
    lines = [f">>> print({fn.id}({x}))\n{fn.f(x)}" for x in shown]
    return f">>> from functions import {fn.id}\n" + "\n".join(lines)


def _coin_context(coin: Coin, params: InductiveParameters) -> str:
    shown = coin.flips[: params.in_context_docs]
    return f"Flips of coin {coin.id}: " + ", ".join(shown) + "."


def _item(condition: str, cluster: str, prompt: str, target: str, options: list[str], meta: dict[str, Any]) -> Item:
    kind = condition.split("_")[0]
    return Item(
        id=content_id(condition, prompt, target, prefix=condition),
        condition=condition,
        prompt=prompt,
        target=target,
        cluster=cluster,
        metadata={"id": cluster, "target_kind": kind, "options": options, **meta},
    )


def _record(prompt: str, answer: str, fid: str, kind: str) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}],
        "metadata": {"id": fid, "kind": kind},
    }
