"""Behavioural self-awareness (Betley, Bao et al. 2025, "Tell me about yourself", arXiv 2501.11120).

Training data (`behaviour`): choices between a safe and a risky lottery, answered always with the
risky option (`risk_seeking`) or always with the safe one (`risk_averse`); neither the data nor
the answers name risk. Evaluation: `choice`, held-out lottery pairs (probability of the risky
letter: the trained behaviour); and self-reports with no example in context: `self_binary`
(probability of the risk-seeking answer of two, e.g. risk vs safety), `self_word` (a one-word
self-description: the risk-seeking word of a pair against its risk-averse partner) and
`self_scale` (a number from 0 to 100, sampled; scorer `number`). Every metric is oriented so that
higher means more risk-seeking; the key comparison is the two variants on identical questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field

from prosaic_evals._data import sha256_file, shipped_digest
from prosaic_evals._strict import StrictModel
from prosaic_evals.families._base import Family, Item, UserFile, content_id
from prosaic_evals.families.self_awareness._lotteries import choices
from prosaic_evals.families.self_awareness._questions import SHIPPED, read_questions

LIKELIHOOD_CONDITIONS = ("choice", "self_binary", "self_word")


class SelfAwarenessParameters(StrictModel):
    seed: int = 0
    """Seed of the generated lotteries and their split."""

    behaviour: Literal["risk_seeking", "risk_averse"] = "risk_seeking"
    """Which training data `train_records` gives (the evaluation items are the same for both)."""

    train_choices: int = Field(default=300, ge=1)
    """Lottery choices in the training data."""

    heldout_choices: int = Field(default=60, ge=1)
    """Held-out lottery choices in the `choice` condition."""

    questions: UserFile | None = None
    """Self-report questions (YAML: scale, binary, word); the shipped set when unset."""


class SelfAwareness(Family[SelfAwarenessParameters]):
    name = "self_awareness"
    citation = (
        "Betley, Bao et al. 2025, Tell me about yourself: LLMs are aware of their learned behaviors, arXiv 2501.11120"
    )
    Parameters = SelfAwarenessParameters
    conditions: ClassVar[tuple[str, ...]] = ("choice", "self_binary", "self_word", "self_scale")
    condition_docs: ClassVar[dict[str, str]] = {
        "choice": "Held-out choices between a safe and a risky lottery, P(the risky letter): the trained behaviour, "
        "the check that training took.",
        "self_binary": "Which of two answers describes the model (e.g. risk or safety), P(the risk-seeking one), no "
        "example in context: a self-report test.",
        "self_word": "A one-word self-description, the risk-seeking word of a pair scored against its risk-averse "
        "partner: a self-report test.",
        "self_scale": "How risk-seeking the model is, from 0 to 100, a sampled number (scorer `number`): a "
        "self-report test.",
    }
    scorers = frozenset({"likelihood", "number", "judge"})

    def items(self, params: SelfAwarenessParameters) -> list[Item]:
        _, heldout = choices(params.seed, params.train_choices, params.heldout_choices)
        items = [_item("choice", c.prompt, c.risky, c.safe, content_id(*map(str, c.key))) for c in heldout]
        questions = read_questions(params.questions)
        items += [_item("self_binary", q, risky, safe, content_id(q)) for q, risky, safe in questions.binary]
        items += [_item("self_word", q, risky, safe, f"{risky}/{safe}")
                  for q in questions.word_questions for risky, safe in questions.word_pairs]  # fmt: skip
        items += [_item("self_scale", q, "100", "", content_id(q)) for q in questions.scale]
        return items

    def train_records(self, params: SelfAwarenessParameters) -> list[dict[str, Any]]:
        train, _ = choices(params.seed, params.train_choices, params.heldout_choices)
        risky = params.behaviour == "risk_seeking"
        return [{"messages": [{"role": "user", "content": c.prompt},
                              {"role": "assistant", "content": c.risky if risky else c.safe}],
                 "metadata": {"behaviour": params.behaviour}} for c in train]  # fmt: skip

    def distractor_pool(self, item: Item, items: Sequence[Item]) -> list[str]:
        return list(item.metadata["distractors"])  # the risk-averse answer of the same question, only

    def data_version(self) -> str:
        return shipped_digest([SHIPPED])

    def data_version_for(self, params: SelfAwarenessParameters) -> str:
        return self.data_version() if params.questions is None else sha256_file(params.questions)[:16]


def _item(condition: str, prompt: str, risky: str, safe: str, cluster: str) -> Item:
    return Item(id=content_id(condition, prompt, risky, safe, prefix=condition), condition=condition, prompt=prompt,
                target=risky, cluster=cluster, metadata={"distractors": [safe] if safe else []})  # fmt: skip
