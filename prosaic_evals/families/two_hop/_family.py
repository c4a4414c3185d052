"""The two-hop curse on fictional triplets (Balesni, Korbak, Evans 2024, arXiv 2411.16353).

Training teaches fact A (e1 is married to e2) and fact B (e2 was born in e3) in
separate documents; a `demoed` share of triplets also gets two-hop question
demonstrations, and `same_document` triplets get both facts in one document.
Conditions:

- `one_hop_a`, `one_hop_b`: recall of each fact (must be high for the rest to mean anything);
- `two_hop_no_cot`: e1 -> e3 without writing e2 (undemoed triplets);
- `two_hop_cot`: the same question, answered step by step (graded: e2 named before e3);
- `same_document`: the two-hop question for triplets whose facts were taught together;
- `in_context`: both facts in the prompt, then the two-hop question (undemoed triplets).

Every evaluation prompt uses a held-out template.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import Field

from prosaic_evals._data import sha256_file
from prosaic_evals._strict import StrictModel
from prosaic_evals.families._base import Family, Item, UserFile, content_id, unset
from prosaic_evals.families.two_hop._generator import (
    Kind,
    Template,
    Templates,
    Triplet,
    data_version,
    generate_triplets,
    read_triplets,
    single_token_check,
    split_templates,
)

CONDITIONS = ("one_hop_a", "one_hop_b", "two_hop_no_cot", "two_hop_cot", "same_document", "in_context")
CONDITION_DOCS = {
    "one_hop_a": "Fact A alone (e1 -> e2, e.g. e1's spouse) for triplets taught fact by fact: the check that the "
    "first hop was learned.",
    "one_hop_b": "Fact B alone (e2 -> e3, e.g. e2's birth city) for triplets taught fact by fact: the check that the "
    "second hop was learned.",
    "two_hop_no_cot": "The two-hop question e1 -> e3, answered without writing e2, for undemoed triplets: the test "
    "(the two-hop curse).",
    "two_hop_cot": "The two-hop question answered step by step, correct when e2 is named before e3 (undemoed "
    "triplets): the chain-of-thought comparison.",
    "same_document": "The two-hop question for triplets whose two facts were taught in one document: the positive "
    "control.",
    "in_context": "Both facts stated in the prompt, then the two-hop question (undemoed triplets): the in-context "
    "baseline.",
}


class TwoHopParameters(StrictModel):
    seed: int = 0
    """Drives triplet generation, the demoed split, held-out templates and the training order."""

    triplets: int = Field(default=50, ge=2)
    """Triplets taught fact by fact (in separate documents)."""

    demoed_fraction: float = Field(default=0.65, ge=0.0, lt=1.0)
    """Share of those whose two-hop question is demonstrated in training (the paper: about 65%)."""

    same_document_triplets: int = Field(default=10, ge=0)
    """Triplets whose two facts are taught in one document (the positive control)."""

    heldout_templates: int = Field(default=3, ge=1)
    """Templates of each kind kept out of training and used for evaluation."""

    train_templates: int | None = Field(default=None, ge=1)
    """Templates of each kind used in the training split (a seeded prefix); all others when unset."""

    tokenizer: str | None = "local"
    """Entities must be one token under this tokenizer (`local`: the embedded model's; a model
    directory or hub id; null: no filter)."""

    triplets_file: UserFile | None = None
    """Your own triplets instead of generated ones: CSV, JSONL or Parquet with e1, e2, e3 and optionally subset."""

    templates: UserFile | None = unset()
    """Your own templates (YAML, the form of datasets/two_hop/templates.yaml): other relations than spouse
    and birth city, such as the paper's."""


class TwoHop(Family[TwoHopParameters]):
    name = "two_hop"
    citation = (
        "Balesni, Korbak, Evans (2024). The Two-Hop Curse: LLMs trained on A->B, B->C fail to learn A->C. "
        "arXiv:2411.16353"
    )
    Parameters = TwoHopParameters
    conditions: ClassVar[tuple[str, ...]] = CONDITIONS
    condition_docs: ClassVar[dict[str, str]] = CONDITION_DOCS
    scorers = frozenset({"exact_match", "likelihood", "chain_of_thought"})

    def items(self, params: TwoHopParameters) -> list[Item]:
        triplets, templates = triplets_of(params), _templates(params)
        held = templates.heldout
        separate = [t for t in triplets if t.subset != "same_document"]
        undemoed = [t for t in triplets if t.subset == "undemoed"]
        together = [t for t in triplets if t.subset == "same_document"]
        items = [_item("one_hop_a", t, *tpl.split(t), tpl) for t in separate for tpl in held["fact_a"]]
        items += [_item("one_hop_b", t, *tpl.split(t), tpl) for t in separate for tpl in held["fact_b"]]
        items += [_item("two_hop_no_cot", t, *tpl.split(t), tpl) for t in undemoed for tpl in held["two_hop"]]
        items += [_item("two_hop_cot", t, tpl.render(t), t.e3, tpl) for t in undemoed for tpl in held["cot_question"]]
        items += [_item("same_document", t, *tpl.split(t), tpl) for t in together for tpl in held["two_hop"]]
        items += [_in_context(t, tpl, templates.in_context) for t in undemoed for tpl in held["two_hop"]]
        return items

    def train_records(self, params: TwoHopParameters) -> list[dict[str, Any]]:
        triplets, templates = triplets_of(params), _templates(params)
        train = templates.train
        if params.train_templates is not None:
            train = {kind: kinds[: params.train_templates] for kind, kinds in train.items()}
        records = []
        for t in triplets:
            kinds: list[Kind] = ["same_document"] if t.subset == "same_document" else ["fact_a", "fact_b"]
            if t.subset == "demoed":
                kinds.append("two_hop")
            records += [_record(t, *tpl.split(t), tpl) for kind in kinds for tpl in train[kind]]
            if t.subset == "demoed":
                answer = templates.cot_answer.format(**t.fields())
                records += [_record(t, tpl.render(t), answer, tpl) for tpl in train["cot_question"]]
        random.Random(f"train-order:{params.seed}").shuffle(records)
        return records

    def distractor_pool(self, item: Item, items: Sequence[Item]) -> list[str]:
        """Shuffled answers: the same kind of answer (a spouse, a city) from every other triplet."""
        kind = item.metadata["target_kind"]
        return sorted({o.target for o in items if o.metadata["target_kind"] == kind and o.target != item.target})

    def data_version(self) -> str:
        return data_version()

    def data_version_for(self, params: TwoHopParameters) -> str:
        files = [p for p in (params.triplets_file, params.templates) if p]
        return "+".join([data_version(), *(sha256_file(p)[:16] for p in files)])


def triplets_of(params: TwoHopParameters) -> list[Triplet]:
    """The triplets `params` describe (generated, or read from the user's file)."""
    check = single_token_check(params.tokenizer)
    if params.triplets_file is not None:
        return read_triplets(
            params.triplets_file, seed=params.seed, demoed_fraction=params.demoed_fraction, single_token=check
        )
    return generate_triplets(
        seed=params.seed,
        separate=params.triplets,
        demoed_fraction=params.demoed_fraction,
        same_document=params.same_document_triplets,
        single_token=check,
    )


def _templates(params: TwoHopParameters) -> Templates:
    return split_templates(seed=params.seed, heldout=params.heldout_templates, path=params.templates)


def _in_context(t: Triplet, question: Template, context: str) -> Item:
    """Both facts stated in the prompt, then the two-hop question."""
    head, target = question.split(t)
    return _item("in_context", t, f"{context.format(**t.fields())} {head}", target, question)


def _item(condition: str, t: Triplet, prompt: str, target: str, template: Template) -> Item:
    return Item(
        id=content_id(condition, prompt, target, prefix=condition),
        condition=condition,
        prompt=prompt,
        target=target,
        cluster=t.id,
        metadata={
            "triplet_id": t.id,
            "subset": t.subset,
            "template_id": template.id,
            "target_kind": "spouse" if condition == "one_hop_a" else "city",
            "bridge": t.e2,
            **t.fields(),
        },
    )


def _record(t: Triplet, prompt: str, answer: str, template: Template) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": f"{answer.rstrip('.')}."}],
        "metadata": {"triplet_id": t.id, "subset": t.subset, "template_id": template.id},
    }
