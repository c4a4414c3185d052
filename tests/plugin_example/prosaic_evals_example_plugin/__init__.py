"""A tiny plugin family, installed through its entry point only (tests put this folder on the path):
sums of two numbers, asked in words or in digits."""

from __future__ import annotations

import random
from typing import Any, ClassVar

from prosaic_evals._strict import StrictModel
from prosaic_evals.families import Family, Item, content_id


class SumsParameters(StrictModel):
    seed: int = 0
    items: int = 6


class Sums(Family[SumsParameters]):
    name = "example_sums"
    citation = "An example plugin family (prosaic-evals tests)."
    Parameters = SumsParameters
    conditions: ClassVar[tuple[str, ...]] = ("digits", "words")
    scorers = frozenset({"exact_match", "likelihood"})

    def items(self, params: SumsParameters) -> list[Item]:
        rng = random.Random(params.seed)
        pairs = [(rng.randint(1, 9), rng.randint(1, 9)) for _ in range(params.items)]
        return [
            Item(
                id=content_id(condition, str(a), str(b), prefix=condition),
                condition=condition,
                prompt=f"{a} plus {b} is" if condition == "words" else f"{a}+{b}=",
                target=str(a + b),
                cluster=f"{a}+{b}",
            )
            for condition in self.conditions
            for a, b in pairs
        ]

    def train_records(self, params: SumsParameters) -> list[dict[str, Any]]:
        return [{"prompt": item.prompt, "completion": item.target} for item in self.items(params)]
