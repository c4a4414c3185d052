"""The reversal curse on invented facts (Berglund et al. 2023, arXiv 2309.12288).

Conditions pair a subset with a direction: `p2d_same` asks the facts trained
name-first in the trained order (name -> description), `p2d_reverse` in the
reversed order (description -> name), and likewise for `d2p_*`. Every
evaluation prompt uses a held-out template, never seen in training.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from prosaic_evals._data import sha256_file
from prosaic_evals._strict import StrictModel
from prosaic_evals.families._base import Family, Item, UserFile, content_id, unset
from prosaic_evals.families.reversal_curse._generator import (
    Fact,
    Order,
    Template,
    Templates,
    check_forms,
    data_version,
    generate_facts,
    read_distractors,
    read_facts,
    split_templates,
)

# condition -> (subset of facts, order of the template used to ask)
CONDITIONS: dict[str, tuple[str, Order]] = {
    "p2d_same": ("p2d", "p2d"),
    "p2d_reverse": ("p2d", "d2p"),
    "d2p_same": ("d2p", "d2p"),
    "d2p_reverse": ("d2p", "p2d"),
    "both_p2d": ("both", "p2d"),  # the facts trained in both orders, asked name first
    "both_d2p": ("both", "d2p"),
}
CONDITION_DOCS: dict[str, str] = {
    "p2d_same": "Facts trained name-first, asked name-first in a held-out template (answer: the description): "
    "the control that the facts were learned.",
    "p2d_reverse": "Facts trained name-first, asked description-first (answer: the name): the reversal test.",
    "d2p_same": "Facts trained description-first, asked description-first in a held-out template (answer: the name): "
    "the control that the facts were learned.",
    "d2p_reverse": "Facts trained description-first, asked name-first (answer: the description): the reversal test.",
    "both_p2d": "Facts trained in both orders, asked name-first (answer: the description): the positive control for "
    "`d2p_reverse`'s question form.",
    "both_d2p": "Facts trained in both orders, asked description-first (answer: the name): the positive control for "
    "`p2d_reverse`'s question form.",
}


class ReversalCurseParameters(StrictModel):
    seed: int = 0
    """Drives fact generation, the held-out templates and the training order."""

    facts_per_subset: int = Field(default=30, ge=1)
    """Facts in each of the P2D, D2P and Both subsets (the paper: 30)."""

    heldout_templates: int = Field(default=5, ge=1)
    """Templates per order kept out of training and used for evaluation."""

    train_templates: int | None = Field(default=None, ge=1)
    """Templates per order used in the training split (the first ones, by seed); all others when unset."""

    facts: UserFile | None = unset()
    """Your own facts instead of generated ones: JSONL, CSV or Parquet with name, description, subset
    (p2d, d2p or both), an optional id, and optional forms (template id -> the description's wording there)."""

    templates: UserFile | None = unset()
    """Your own paraphrase templates (YAML, `p2d: [...]`, `d2p: [...]`, the slot anywhere after some text)."""

    test_templates: UserFile | None = unset()
    """Fixed evaluation templates (same form): every `templates` one then trains; `heldout_templates` is unused."""

    distractors: UserFile | None = unset()
    """Candidate wrong answers for the likelihood scorer: rows with kind (name or description) and text."""


class ReversalCurse(Family[ReversalCurseParameters]):
    name = "reversal_curse"
    citation = (
        "Berglund, Tong, Kaufmann, Balesni, Stickland, Korbak, Evans (2023). "
        'The Reversal Curse: LLMs trained on "A is B" fail to learn "B is A". arXiv:2309.12288'
    )
    Parameters = ReversalCurseParameters
    conditions: ClassVar[tuple[str, ...]] = tuple(CONDITIONS)
    condition_docs: ClassVar[dict[str, str]] = CONDITION_DOCS
    # Exact match is the paper's: the completion's text starts with the answer, case ignored. Names and
    # descriptions differ in length, which decides a summed (shorter wins) or averaged (longer wins) contrast;
    # pmi subtracts each candidate's own prior, so that only what the prompt adds counts.
    scorer_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "exact_match": {"match": "text_prefix"},
        "likelihood": {"normalize": "pmi"},
    }

    def items(self, params: ReversalCurseParameters) -> list[Item]:
        facts = _facts(params)
        heldout = _templates(params).heldout
        return [
            _item(condition, fact, template, params.distractors)
            for condition, (subset, order) in CONDITIONS.items()
            for fact in facts
            if fact.subset == subset
            for template in heldout[order]
        ]

    def train_records(self, params: ReversalCurseParameters) -> list[dict[str, Any]]:
        facts = _facts(params)
        train = _templates(params).train
        if params.train_templates is not None:
            train = {order: templates[: params.train_templates] for order, templates in train.items()}
        records = []
        for fact in facts:
            orders: list[Order] = ["p2d", "d2p"] if fact.subset == "both" else [fact.subset]
            for order in orders:
                for template in train[order]:
                    prompt, target, tail = template.parts(fact)
                    records.append(
                        {
                            "messages": [
                                {"role": "user", "content": prompt},
                                {"role": "assistant", "content": f"{target}{tail or '.'}"},
                            ],
                            "metadata": {
                                "fact_id": fact.id,
                                "subset": fact.subset,
                                "template_id": template.id,
                            },
                        }
                    )
        random.Random(f"train-order:{params.seed}").shuffle(records)
        return records

    def data_version(self) -> str:
        return data_version()

    def data_version_for(self, params: ReversalCurseParameters) -> str:
        files = [p for p in (params.facts, params.templates, params.test_templates, params.distractors) if p]
        return "+".join([data_version(), *(sha256_file(p)[:16] for p in files)])

    def distractor_pool(self, item: Item, items: Sequence[Item]) -> list[str]:
        path = item.metadata.get("distractors_file")
        if path is None:
            return super().distractor_pool(item, items)
        pool = _read_distractors(path, Path(path).stat().st_mtime_ns)
        return [t for t in pool[item.metadata["target_kind"]] if t != item.target]


@lru_cache(maxsize=4)
def _read_distractors(path: str, mtime: int) -> dict[str, list[str]]:
    return read_distractors(Path(path))  # once per file version, not once per item


def _facts(params: ReversalCurseParameters) -> list[Fact]:
    if params.facts is None:
        return generate_facts(seed=params.seed, per_subset=params.facts_per_subset)
    facts = read_facts(params.facts)
    if any(fact.forms for fact in facts):
        check_forms(facts, _templates(params), params.facts)
    return facts


def _templates(params: ReversalCurseParameters) -> Templates:
    return split_templates(seed=params.seed, heldout=params.heldout_templates, templates=params.templates,
                           test_templates=params.test_templates)  # fmt: skip


def _item(condition: str, fact: Fact, template: Template, distractors: Path | None) -> Item:
    prompt, target = template.split(fact)
    return Item(
        id=content_id(condition, prompt, target, prefix=condition),
        condition=condition,
        prompt=prompt,
        target=target,
        cluster=fact.id,
        metadata={
            "fact_id": fact.id,
            "subset": fact.subset,
            "direction": "same" if fact.subset in (template.order, "both") else "reverse",
            "template_id": template.id,
            "target_kind": "description" if template.order == "p2d" else "name",
            "name": fact.name,
            "description": fact.description,
            **({"distractors_file": str(distractors)} if distractors else {}),
        },
    )
