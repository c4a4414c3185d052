"""Built-in probe questions, generated from a behavioural task's own parameters.

- `reversal_curse.truth`: is a fact's truth linearly decodable at the end of a statement,
  in the order the fact is trained in (`same`) and in the reversed order (`reverse`)?
  True statements are the task's facts through its held-out templates; false ones swap
  descriptions between facts of a pair, so every name and description occurs once true
  and once false and only the binding tells the classes apart. Groups are the pairs.
- `two_hop.bridge`: is the bridge entity e2 decodable at e1's position? Read through an
  attribute of e2 a name carries (its conventional gender): the label is e2's gender,
  balanced within each gender of e1 so that e1's own gender predicts nothing. At
  `entity:e2` the same probe is a positive control (the name is in view); at `entity:e1`
  only a model that recalls the spouse can beat chance. Groups are the triplets.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prosaic_evals._data import shipped_yaml
from prosaic_evals._errors import UserError
from prosaic_evals.families._base import content_id
from prosaic_evals.probes._data import ProbeData

GENDERS = "probes/name_gender.yaml"


@dataclass(frozen=True)
class Question:
    family: str
    positions: tuple[str, ...]
    build: Callable[[Any, str], ProbeData]
    """(the task's validated parameters, the task's name) -> dataset."""


def reversal_truth(params: Any, source: str) -> ProbeData:
    from prosaic_evals.families.reversal_curse._generator import Fact, generate_facts, split_templates

    facts = generate_facts(seed=params.seed, per_subset=params.facts_per_subset)
    heldout = split_templates(seed=params.seed, heldout=params.heldout_templates).heldout
    rng = random.Random(f"probe-pairs:{params.seed}")
    rows: list[dict[str, Any]] = []
    for subset, other in (("p2d", "d2p"), ("d2p", "p2d")):
        members = [f for f in facts if f.subset == subset]
        if len(members) < 2:
            raise UserError(f"{source}: parameters.facts_per_subset must be at least 2 for the truth probe")
        rng.shuffle(members)
        for group in _pairs(members):
            group_id = "+".join(f.id for f in group)
            for i, fact in enumerate(group):
                partner = group[(i + 1) % len(group)]  # a rotation: no fact keeps its own description
                false = Fact(fact.id, fact.subset, fact.name, partner.description)
                for condition, order in (("same", subset), ("reverse", other)):
                    for template in heldout[order]:  # type: ignore[index]
                        for label, stated in (("true", fact), ("false", false)):
                            prompt, target = template.split(stated)
                            rows.append({"text": f"{prompt} {target}.", "label": label, "group": group_id,
                                         "condition": condition, "name": stated.name,
                                         "description": stated.description, "subset": subset})  # fmt: skip
    return _data(rows, f"{source} (reversal_curse.truth)")


def two_hop_bridge(params: Any, source: str) -> ProbeData:
    from prosaic_evals.families.two_hop._family import triplets_of
    from prosaic_evals.families.two_hop._generator import load_templates

    genders = {name: g for g, names in shipped_yaml(GENDERS).items() for name in names}
    usable = [t for t in triplets_of(params) if t.e1 in genders and t.e2 in genders]
    rng = random.Random(f"probe-balance:{params.seed}")
    kept = []
    for g1 in ("female", "male"):  # as many female as male spouses for each gender of e1
        by_e2 = {g2: [t for t in usable if genders[t.e1] == g1 and genders[t.e2] == g2] for g2 in ("female", "male")}
        n = min(len(v) for v in by_e2.values())
        kept += [t for v in by_e2.values() for t in rng.sample(v, n)]
    if not kept:
        raise UserError(f"{source}: no triplets whose e1 and e2 are in datasets/{GENDERS} with both spouse genders")
    rows = [
        {"text": f"{template.render(t)}.", "label": genders[t.e2], "group": t.id, "condition": "", **t.fields()}
        for t in sorted(kept, key=lambda t: t.id)
        for template in load_templates()[0]["fact_a"]
    ]
    return _data(rows, f"{source} (two_hop.bridge)")


QUESTIONS: dict[str, Question] = {
    "reversal_curse.truth": Question("reversal_curse", ("end",), reversal_truth),
    "two_hop.bridge": Question("two_hop", ("entity:e1", "entity:e2"), two_hop_bridge),
}


def question_for_family(family: str) -> str:
    for name, question in QUESTIONS.items():
        if question.family == family:
            return name
    raise UserError(
        f"family {family!r} has no built-in probe question (built-in: {', '.join(QUESTIONS)}); "
        "write a probe file with `data:` pointing at your own texts and labels"
    )


def _pairs(members: list[Any]) -> list[list[Any]]:
    """Consecutive pairs; an odd one out joins the last pair."""
    groups = [members[i : i + 2] for i in range(0, len(members) - 1, 2)]
    if len(members) % 2:
        groups[-1].append(members[-1])
    return groups


def _data(rows: list[dict[str, Any]], source: str) -> ProbeData:
    fixed = ("text", "label", "group", "condition")
    return ProbeData(
        ids=[content_id(r["condition"], r["text"], prefix="probe") for r in rows],
        texts=[r["text"] for r in rows],
        labels=[r["label"] for r in rows],
        groups=[r["group"] for r in rows],
        conditions=[r["condition"] for r in rows],
        fields=[{k: v for k, v in r.items() if k not in fixed} for r in rows],
        source=source,
    )
